// Package proctest answers, for tests on every OS, whether a process still
// runs and how much CPU time this one has used: the system calls that say
// so differ between Unix and Windows, the questions the tests ask do not.
package proctest
