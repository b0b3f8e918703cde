// Package proc answers, on every OS, whether a process still runs and how
// much CPU time this one has used: the system calls that say so differ
// between Unix and Windows, the questions asked do not.
package proc
