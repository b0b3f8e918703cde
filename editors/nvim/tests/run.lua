-- Headless tests of the plugin, run by tests/run.sh: unit tests (toasts
-- against the shared fixture, the log format, the executions' states,
-- completion from disk), then the plugin driving the real sidecar through
-- the example workflow. Prints "N passed, N failed" and exits non-zero on
-- any failure; run.sh checks that line against the number of tests here.
--
-- Each test is one `test("name", function() … end)` at the start of a line:
-- run.sh counts them so. Tests run in order, and the sidecar tests build on
-- each other (one workspace, one execution of the example).
local repo = vim.env.MIMIR_REPO
local bin = vim.env.MIMIR_SIDECAR_BIN
local uv = vim.uv or vim.loop

local tests = {}

local function test(name, fn)
  table.insert(tests, { name = name, fn = fn })
end

local function eq(got, want, what)
  if not vim.deep_equal(got, want) then
    error(string.format("%s:\n got  %s\n want %s", what or "value", vim.inspect(got), vim.inspect(want)), 2)
  end
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function write(path, text)
  vim.fn.mkdir(vim.fn.fnamemodify(path, ":h"), "p")
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- Every notification, and the errors nobody asked for. Neovim reports an
-- error raised in an LSP handler, a request's callback, vim.schedule or an
-- autocommand in v:errmsg (0.7) or with vim.notify at ERROR level (newer
-- ones, for the LSP client's); the plugin's own notifications carry its
-- title. Each such error fails the test it happened in.
local notes = {}
local stray = {}

local function notify(msg, level, opts)
  if type(msg) ~= "string" then
    msg = "a notification that is not text: " .. vim.inspect(msg) .. "\n" .. debug.traceback()
    table.insert(stray, msg)
  end
  table.insert(notes, { msg = msg, level = level })
  if level == vim.log.levels.ERROR and not (opts and opts.title == "Mimir") then
    table.insert(stray, msg)
  end
end
vim.notify = notify

local function stray_errors()
  if vim.v.errmsg ~= "" then
    table.insert(stray, vim.v.errmsg)
    vim.v.errmsg = ""
  end
  return stray
end

local function wait_for(what, pred, ms)
  local ok = vim.wait(ms or 30000, function()
    return #stray_errors() > 0 or pred()
  end, 20)
  if #stray > 0 then
    error("an error was raised while waiting for " .. what .. ":\n" .. table.concat(stray, "\n"), 2)
  end
  if not ok then
    error("timed out waiting for " .. what, 2)
  end
end

local function messages(pattern)
  local found = {}
  for _, n in ipairs(notes) do
    if n.msg:find(pattern, 1, true) then
      table.insert(found, n)
    end
  end
  return found
end

-- Unit tests.

test("toasts match testdata/toasts.json", function()
  local toasts = require("mimir.toasts")
  local cases = vim.json.decode(read(repo .. "/testdata/toasts.json"))
  assert(#cases > 10, "fixture too small")
  for _, c in ipairs(cases) do
    local level, text = toasts.toast(c.event)
    local want = c.toast
    if want == vim.NIL or want == nil then
      eq(level, nil, c.event.event .. " (seq " .. c.event.seq .. ") level")
    else
      eq({ level, text }, { want.level, want.text }, c.event.event .. " (seq " .. c.event.seq .. ")")
    end
  end
end)

test("failures setting shows only warnings and errors", function()
  local toasts = require("mimir.toasts")
  local shown = {}
  vim.notify = function(msg, level)
    table.insert(shown, { msg, level })
  end
  toasts.show({ event = "qc-start", data = { message = "🔍 QC verifying: x" } }, "failures")
  toasts.show({ event = "task-fail", data = { message = "❌ Task failed: x after 3 attempts" } }, "failures")
  toasts.show({ event = "task-fail", data = { message = "❌ no" } }, "none")
  vim.notify = notify
  eq(shown, { { "❌ Task failed: x after 3 attempts", vim.log.levels.ERROR } }, "shown")
end)

test("log line format", function()
  local log = require("mimir.log")
  eq(log.format({ seq = 7, event = "qc-complete", data = { taskId = "a", message = "⚠️ x\ny" } }),
    "    7 qc-complete          [a] ⚠️ x ⏎ y", "line")
end)

-- A plugin manager that does not run :helptags (packpath, a plain
-- runtimepath) leaves :help mimir failing unless doc/tags is committed; it
-- is, and must be what :helptags makes of doc/ now.
test(":help mimir opens the plugin's help, and the committed doc/tags are what :helptags makes", function()
  local doc = repo .. "/editors/nvim/doc"
  local tmp = vim.fn.tempname()
  vim.fn.mkdir(tmp, "p")
  for _, f in ipairs(vim.fn.readdir(doc)) do
    if f:match("%.txt$") then
      write(tmp .. "/" .. f, read(doc .. "/" .. f))
    end
  end
  vim.cmd("helptags " .. vim.fn.fnameescape(tmp))
  local fresh = read(tmp .. "/tags")
  vim.fn.delete(tmp, "rf")
  local ok, committed = pcall(read, doc .. "/tags")
  assert(ok, "doc/tags is missing: run nvim --headless '+helptags editors/nvim/doc' +q and commit it")
  eq(committed, fresh, "doc/tags (regenerate: nvim --headless '+helptags editors/nvim/doc' +q)")
  vim.cmd("help mimir")
  local name = vim.api.nvim_buf_get_name(0)
  local line = vim.api.nvim_get_current_line()
  vim.cmd("helpclose")
  assert(vim.endswith(name, "/editors/nvim/doc/mimir.txt"), name)
  assert(line:find("*mimir*", 1, true), line)
end)

test("a Neovim with no plugin shows the sidecar's progress with docs/protocol.md's statusline recipe", function()
  local out = vim.fn.system({ "timeout", "60", "nvim", "--headless", "-u", "NONE", "-i", "NONE", "-n", "-c", "luafile " .. repo .. "/editors/nvim/tests/plain.lua" })
  assert(vim.v.shell_error == 0, "tests/plain.lua failed:\n" .. out)
  assert(out:find("statusline: [^\n]*Mimir: slow: nap · worker · attempt 1/3 %(0%%%)"), out)
end)

test("download messages are the seed's, worded as the VS Code extension's", function()
  local deliverables = require("mimir.deliverables")
  local INFO, WARN, ERROR = vim.log.levels.INFO, vim.log.levels.WARN, vim.log.levels.ERROR
  local function outcome(saved, failed, results)
    return { deliverables.outcome({ target = "/w/deliverables", saved = saved, failed = failed, results = results or {} }) }
  end
  eq(outcome(3, 0), { INFO, "✅ Downloaded 3 deliverables to /w/deliverables" }, "all saved")
  eq(outcome(1, 0), { INFO, "✅ Downloaded 1 deliverable to /w/deliverables" }, "one saved")
  eq(outcome(0, 0), { WARN, "No deliverables to download" }, "nothing to save")
  local results = {
    { path = "a.md", status = "saved" },
    { path = "b.md", status = "failed", error = "permission denied" },
    { path = "c.md", status = "failed", error = vim.NIL },
  }
  eq(outcome(1, 2, results), {
    WARN, "⚠️ Downloaded 1 of 3 deliverables to /w/deliverables; failed: b.md (permission denied), c.md (unknown error)",
  }, "some failed")
  eq(outcome(0, 2, { results[2], results[3] }), {
    ERROR, "❌ Download failed: none of 2 deliverables could be saved: b.md (permission denied), c.md (unknown error)",
  }, "all failed")
  eq(deliverables.failed_text({ code = -31001, message = "no execution ex_x" }), "❌ Download failed: no execution ex_x", "refused")
  eq(deliverables.no_deliverables, "No deliverables to download", "none")
end)

test(":MimirApply's arguments: [id] [--branch NAME], and what makes no sense", function()
  local changes = require("mimir.changes")
  local function parse(...)
    return { changes.parse_args({ ... }) }
  end
  eq(parse(), {}, "none")
  eq(parse("ex_1"), { "ex_1" }, "an id")
  eq(parse("--branch", "mimir/fix"), { nil, "mimir/fix" }, "a branch")
  eq(parse("--branch=mimir/fix", "ex_1"), { "ex_1", "mimir/fix" }, "--branch=, then an id")
  eq(parse("ex_1", "--branch", "b"), { "ex_1", "b" }, "an id, then a branch")
  for _, bad in ipairs({ { "--branch" }, { "--branch", "--x" }, { "--branch=" }, { "-b", "x" }, { "ex_1", "ex_2" } }) do
    local id, branch, err = changes.parse_args(bad)
    assert(err and id == nil and branch == nil, vim.inspect(bad) .. " accepted")
  end
end)

test("apply messages and conflicts in the quickfix list are worded as the VS Code extension's", function()
  local changes = require("mimir.changes")
  local INFO, WARN = vim.log.levels.INFO, vim.log.levels.WARN
  local res = {
    status = "conflict",
    applied = 0,
    conflicts = 2,
    message = "⚠️ Nothing applied: 2 files conflict with your edits; resolve them, or apply on a branch",
    files = {
      { path = "a.txt", change = "modified", outcome = "not-applied" },
      { path = "slugify.sh", change = "modified", outcome = "conflict", error = "your changes since the execution started and the task's overlap", theirs = "/w/.mimir/executions/ex_1/conflicts/slugify.sh" },
      { path = "link", change = "added", outcome = "refused", error = "a symbolic link" },
    },
  }
  eq({ changes.outcome(res) }, {
    WARN,
    "⚠️ Nothing applied: 2 files conflict with your edits; resolve them, or apply on a branch: slugify.sh (your changes since the execution started and the task's overlap), link (a symbolic link)",
  }, "conflict")
  eq({ changes.outcome({ status = "applied", applied = 1, conflicts = 0, files = {}, message = "✅ Applied the changes to 1 file" }) }, { INFO, "✅ Applied the changes to 1 file" }, "applied")
  eq(changes.quickfix_items(res, "/w"), {
    { filename = "/w/slugify.sh", lnum = 1, col = 1, type = "E", text = "conflict: your changes since the execution started and the task's overlap; the task's version: /w/.mimir/executions/ex_1/conflicts/slugify.sh" },
    { filename = "/w/link", lnum = 1, col = 1, type = "E", text = "refused: a symbolic link" },
  }, "quickfix items")
  eq(changes.failed_text({ message = "execution ex_1 has no changes to apply" }), "❌ Apply failed: execution ex_1 has no changes to apply", "failed")
end)

test("changes: pending at an isolated task's end, then the apply's status; an apply the plugin did not ask for is notified", function()
  local events = require("mimir.events")
  local kept = { events.executions, events.order }
  events.executions, events.order = {}, {}
  local shown = {}
  vim.notify = function(msg, level)
    table.insert(shown, { msg, level })
  end
  local ok, err = pcall(function()
    local function send(name, data)
      data.message = data.message or ""
      events.on_event({ seq = 1, executionId = "ex_changes", event = name, data = data })
    end
    send("execution-start", { workflow = "w", tasks = 2 })
    send("task-complete", { taskId = "plain" })
    eq(events.executions.ex_changes.changes, nil, "after a task that is not isolated")
    send("task-complete", { taskId = "fix", changes = { snapshot = "a", commit = "b", files = { { path = "x", status = "modified" } }, patch = "fix/fix.patch" } })
    eq(events.executions.ex_changes.changes, "pending", "after an isolated task")
    eq(require("mimir.changes").pending_ids()[1], "ex_changes", "offered first")
    shown = {}
    send("changes-applied", { status = "conflict", applied = 0, conflicts = 1, message = "⚠️ Nothing applied: 1 file conflict with your edits; resolve them, or apply on a branch" })
    eq(events.executions.ex_changes.changes, "conflict", "after a conflict")
    eq(shown, { { "⚠️ Nothing applied: 1 file conflict with your edits; resolve them, or apply on a branch", vim.log.levels.WARN } }, "the toast of an apply nobody asked for")
    -- One the plugin asked for: its answer is shown instead.
    local done = events.expect("changes-applied", "ex_changes")
    shown = {}
    send("changes-applied", { status = "applied", applied = 1, conflicts = 0, message = "✅ Applied the changes to 1 file" })
    done(false)
    eq(events.executions.ex_changes.changes, "applied", "after the apply")
    eq(shown, {}, "toasts of an apply the plugin reports itself")
    send("changes-discarded", { message = "🗑️ Discarded the worktrees of the changes" })
    eq(events.executions.ex_changes.changes, "discarded", "after a discard")
    eq(shown, { { "🗑️ Discarded the worktrees of the changes", vim.log.levels.INFO } }, "the discard's toast")
  end)
  vim.notify = notify
  events.executions, events.order = kept[1], kept[2]
  assert(ok, err)
end)

test("setup validates its options", function()
  local ok, err = pcall(require("mimir").setup, { notifications = "loud" })
  assert(not ok and tostring(err):find("notifications must be"), tostring(err))
  ok, err = pcall(require("mimir").setup, { cmd = 42 })
  assert(not ok and tostring(err):find("cmd must be"), tostring(err))
end)

test("a missing binary says what to do", function()
  require("mimir").setup({ cmd = { "/nonexistent/mimir-sidecar" } })
  local id, err = require("mimir.client").start(vim.fn.getcwd())
  eq(id, nil, "client id")
  assert(err:find("cannot find the sidecar") and err:find("setup%("), err)
end)

test("mimir.compat calls the LSP client the way this Neovim's wants", function()
  local compat = require("mimir.compat")
  eq(compat.uv, vim.uv or vim.loop, "libuv")
  local calls = {}
  local fake = {}
  function fake.request(...)
    table.insert(calls, { ... })
  end
  function fake.request_sync(...)
    table.insert(calls, { ... })
    return { result = 1 }
  end
  local function handler() end
  compat.request(fake, "mimir/sse", {}, handler)
  eq(compat.request_sync(fake, "mimir/sse", {}, 5), { result = 1 }, "request_sync's answer")
  if vim.fn.has("nvim-0.11") == 1 then
    eq(calls, { { fake, "mimir/sse", {}, handler }, { fake, "mimir/sse", {}, 5 } }, "method calls")
  else
    eq(calls, { { "mimir/sse", {}, handler }, { "mimir/sse", {}, 5 } }, "field calls")
  end
end)

test("the plugin reaches the APIs that changed only through mimir.compat", function()
  local files = vim.api.nvim_get_runtime_file("lua/mimir/*.lua", true)
  assert(#files > 5, "plugin files not found: " .. vim.inspect(files))
  for _, file in ipairs(files) do
    if not file:find("compat%.lua$") then
      local text = read(file)
      for _, api in ipairs({
        "vim%.loop", "vim%.uv", "vim%.lsp%.start", "vim%.lsp%.stop_client", ":request%(", ":request_sync%(", ":stop%(",
        "nvim_buf_set_option", -- deprecated in 0.10: vim.bo works on every version
      }) do
        assert(not text:find(api), file .. " uses " .. api .. " directly")
      end
    end
  end
end)

test("only execution-start makes an execution running; its end, cancel or interruption ends it", function()
  local events = require("mimir.events")
  local kept = { events.executions, events.order }
  events.executions, events.order = {}, {}
  local function send(id, name, data)
    data.message = name
    events.on_event({ seq = 1, executionId = id, event = name, data = data })
  end
  local ok, err = pcall(function()
    -- Seen from the middle (started before the plugin listened): not running.
    send("ex_phantom", "task-start", { taskId = "a" })
    eq(events.latest_running(), nil, "a phantom is not running")
    send("ex_a", "execution-start", { workflow = "a", tasks = 1 })
    eq(events.latest_running().id, "ex_a", "running after execution-start")
    send("ex_a", "execution-interrupted", { reason = "the sidecar stopped while it ran" })
    eq(events.executions.ex_a.status, "interrupted", "status after execution-interrupted")
    eq(events.latest_running(), nil, "an interrupted execution is not running")
    send("ex_a", "execution-start", { workflow = "a", tasks = 1, resumed = true })
    eq(events.latest_running().id, "ex_a", "running again after resuming")
    send("ex_a", "execution-cancelled", { reason = "x" })
    eq(events.executions.ex_a.status, "cancelled", "status after execution-cancelled")
    send("ex_b", "execution-start", { workflow = "b", tasks = 1 })
    send("ex_b", "execution-complete", { status = "failed", deliverables = {} })
    eq(events.executions.ex_b.status, "failed", "status after execution-complete")
    eq(events.latest_running(), nil, "nothing running at the end")
  end)
  events.executions, events.order = kept[1], kept[2]
  assert(ok, err)
end)

test("a sidecar's exit interrupts the executions it was running, with one toast each", function()
  local events = require("mimir.events")
  local kept = { events.executions, events.order }
  events.executions, events.order = {}, {}
  local function send(client_id, exid, name, data)
    data.message = data.message or name
    events.on_event({ seq = 1, executionId = exid, event = name, data = data }, client_id)
  end
  local warning = "⚠️ Execution interrupted: the sidecar stopped while it ran"
  local before = #messages(warning)
  local ok, err = pcall(function()
    send(1, "ex_a", "execution-start", { workflow = "a", tasks = 1 })
    send(2, "ex_b", "execution-start", { workflow = "b", tasks = 1 })
    send(1, "ex_c", "execution-start", { workflow = "c", tasks = 1 })
    send(1, "ex_c", "execution-complete", { status = "completed", deliverables = {} })
    events.client_exited(1)
    eq(events.executions.ex_a.status, "interrupted", "client 1's running execution")
    eq(events.executions.ex_b.status, "running", "client 2's")
    eq(events.executions.ex_c.status, "completed", "client 1's completed one")
    eq(events.latest_running().id, "ex_b", "the newest running")
    local warned = messages(warning)
    eq(#warned - before, 1, "warnings")
    eq(warned[#warned].msg, warning .. " (a, ex_a)", "the warning")
    eq(warned[#warned].level, vim.log.levels.WARN, "its level")
    -- The restarted sidecar finds it cut off too, and says so.
    send(3, "ex_a", "execution-interrupted", { reason = "the sidecar stopped while it ran", message = warning })
    eq(events.executions.ex_a.status, "interrupted", "after the sidecar's own event")
    eq(#messages(warning) - before, 1, "warnings after the sidecar's own event")
  end)
  events.executions, events.order = kept[1], kept[2]
  assert(ok, err)
end)

test("workflow completion reads the disk without starting the sidecar, and :MimirRun resolves from the root", function()
  local client = require("mimir.client")
  local commands = require("mimir.commands")
  local root = vim.fn.resolve(vim.fn.tempname())
  for _, f in ipairs({
    "a.mimir.yaml", "sub/workflow.yml", "workflows/nightly.json", "sub/local.mimir.yaml",
    "notes.yaml", "node_modules/pkg/x.mimir.yaml", "deliverables/old/workflow.yaml", ".github/workflows/ci.yml",
  }) do
    write(root .. "/" .. f, "name: x\n")
  end
  write(root .. "/sub/only-here.mimir.json", "{}")
  vim.fn.mkdir(root .. "/.git", "p")
  local cwd = vim.fn.getcwd()
  vim.cmd("enew")
  vim.cmd("cd " .. vim.fn.fnameescape(root .. "/sub"))
  local ok, err = pcall(function()
    eq(commands.complete_workflows(""), { "a.mimir.yaml", "sub/local.mimir.yaml", "sub/only-here.mimir.json", "sub/workflow.yml", "workflows/nightly.json" }, "workflows")
    eq(commands.complete_workflows("sub/w"), { "sub/workflow.yml" }, "workflows under sub/w")
    eq(client.ids[root], nil, "completion started a sidecar")
    eq(commands.resolve_workflow("a.mimir.yaml"), root .. "/a.mimir.yaml", "a workspace-relative path")
    eq(commands.resolve_workflow("sub/workflow.yml"), root .. "/sub/workflow.yml", "a workspace-relative path in a folder")
    eq(commands.resolve_workflow("./only-here.mimir.json"), root .. "/sub/only-here.mimir.json", "a file only in the current folder")
    eq(commands.resolve_workflow(root .. "/a.mimir.yaml"), root .. "/a.mimir.yaml", "an absolute path")
    eq(commands.resolve_workflow("missing.yaml"), root .. "/missing.yaml", "a missing file, for the sidecar to say so")
  end)
  vim.cmd("cd " .. vim.fn.fnameescape(cwd))
  assert(ok, err)
end)

test("opening a workflow file attaches the sidecar; GitHub Actions' .github/workflows/ files do not", function()
  local client = require("mimir.client")
  local root = vim.fn.resolve(vim.fn.tempname())
  vim.fn.mkdir(root .. "/.git", "p")
  local files = {
    "a.mimir.yaml", "sub/workflow.yml", "workflows/nightly.json", "ops/workflows/deploy.yaml",
    ".github/workflows/ci.yml", "sub/.github/workflows/lint.yaml", "workflows/old/x.yml",
  }
  for _, f in ipairs(files) do
    write(root .. "/" .. f, "name: x\n")
  end
  local started = {}
  local start = client.start
  client.start = function(r, bufnr)
    table.insert(started, { r, vim.api.nvim_buf_get_name(bufnr):sub(#root + 2) })
  end
  local ok, err = pcall(function()
    require("mimir").setup({ cmd = { bin } })
    for _, f in ipairs(files) do
      vim.cmd("edit " .. vim.fn.fnameescape(root .. "/" .. f))
      vim.cmd("bwipeout")
    end
  end)
  client.start = start
  assert(ok, err)
  eq(started, {
    { root, "a.mimir.yaml" }, { root, "sub/workflow.yml" }, { root, "workflows/nightly.json" }, { root, "ops/workflows/deploy.yaml" },
  }, "the sidecar started for")
end)

-- The plugin against the real sidecar.

local ws
local id -- the example's execution
local fired = {}
local echoed = {}

local function workspace()
  ws = vim.fn.resolve(vim.fn.tempname())
  vim.fn.mkdir(ws, "p")
  vim.fn.system({ "cp", "-r", repo .. "/examples", ws .. "/examples" })
  vim.fn.mkdir(ws .. "/.git", "p")
  vim.cmd("cd " .. vim.fn.fnameescape(ws))
  vim.api.nvim_create_autocmd("User", {
    pattern = "MimirEvent",
    callback = function(args)
      table.insert(fired, args.data or vim.g.mimir_last_event)
    end,
  })
  vim.o.columns = 200 -- room for the progress echoed whole
  local echo = vim.api.nvim_echo
  vim.api.nvim_echo = function(chunks, history, opts)
    table.insert(echoed, { text = chunks[1][1], history = history })
    return echo(chunks, history, opts)
  end
end

local events = require("mimir.events")

local function finished(exid)
  return function()
    local ex = events.executions[exid]
    return ex ~= nil and ex.status ~= nil and ex.status ~= "running"
  end
end

local function fired_for(exid, name)
  return vim.tbl_filter(function(ev)
    return ev.executionId == exid and (name == nil or ev.event == name)
  end, fired)
end

-- Scripted answers to vim.ui.select: each step picks the item whose label
-- starts with its text; the labels of every list shown are kept.
local function script_select(steps)
  local shown = {}
  vim.ui.select = function(items, opts, on_choice)
    local labels = vim.tbl_map(opts.format_item or tostring, items)
    table.insert(shown, labels)
    local step = table.remove(steps, 1)
    for i, label in ipairs(labels) do
      if step and label:sub(1, #step) == step then
        return on_choice(items[i], i)
      end
    end
    on_choice(nil)
  end
  return shown
end

local function answer_input(text)
  vim.ui.input = function(_, on_confirm)
    on_confirm(text)
  end
end

local function files_under(dir)
  local found = vim.fn.globpath(dir, "**", false, true)
  local files = {}
  for _, f in ipairs(found) do
    if vim.fn.isdirectory(f) == 0 then
      table.insert(files, f:sub(#dir + 2))
    end
  end
  table.sort(files)
  return files
end

test(":MimirRun runs the example, from a path relative to the workspace, with the seed's notifications", function()
  workspace()
  require("mimir").setup({ cmd = { bin } })
  vim.cmd("enew")
  vim.cmd("cd examples") -- the path below is the workspace's, not this folder's
  vim.cmd("MimirRun examples/translate-docs/workflow.yaml")
  vim.cmd("cd " .. vim.fn.fnameescape(ws))
  wait_for("the execution to start", function()
    return #events.order > 0
  end)
  id = events.order[1]
  wait_for("execution-complete", finished(id))
  eq(events.executions[id].status, "completed", "status")

  local texts = {}
  for _, n in ipairs(notes) do
    table.insert(texts, n.msg)
  end
  local all = table.concat(texts, "\n---\n")
  for _, want in ipairs({
    "🤖 Worker executing: Translate README to French",
    "🔍 QC verifying: Translate README to French",
    "⚠️ QC failed (Score: 43/100) - Retrying (1/2)\n\n📋 Issues:\nSection 4. Workers is not translated",
    "🔧 Required fixes:\nFix 1: Translate the remaining sections (4-7)",
    "✅ QC passed (Score: 100/100)",
    "✅ Execution completed: 4/4 tasks, 6 deliverables",
  }) do
    assert(all:find(want, 1, true), "no notification with " .. want .. "\nnotifications:\n" .. all)
  end
  assert(all:find("✅ Worker completed %(%d+%.%ds%)"), "no worker-complete toast")
  local warned = messages("⚠️ QC failed")
  eq(warned[1].level, vim.log.levels.WARN, "QC failed level")
end)

test("progress began, reported and ended, echoed outside the message history", function()
  local progress = require("mimir.progress")
  local token = "mimir/" .. id
  local kinds = {}
  wait_for("progress end", function()
    kinds = {}
    for _, p in ipairs(progress.seen) do
      if p.token == token then
        table.insert(kinds, p.kind)
      end
    end
    return kinds[#kinds] == "end"
  end)
  eq(kinds[1], "begin", "first kind")
  assert(vim.tbl_contains(kinds, "report"), "no report: " .. vim.inspect(kinds))
  local function echo_of(pattern)
    for _, e in ipairs(echoed) do
      if e.text:find(pattern) then
        return e
      end
    end
    error("nothing echoed like " .. pattern .. " in:\n" .. vim.inspect(echoed), 2)
  end
  -- The begin carries the newest report sent before the client had the
  -- token (folded in), or the execution's start.
  local begin = echo_of("^Mimir: translate%-docs: ")
  local report = echo_of("^Mimir: translate%-docs: %d+%% Translate README to French · %a+ · attempt %d/3$")
  local done = echo_of("^Mimir: translate%-docs: ✅ Execution completed: 4/4 tasks, 6 deliverables$")
  eq({ begin.history, report.history, done.history }, { false, false, false }, "kept in the message history")
end)

test("User MimirEvent fired once for each event in the sidecar's record, in order", function()
  local record = require("mimir.client").request_sync("mimir/events", { since = 0, executionId = id })
  assert(record and record.events, "no record")
  local want, got = {}, {}
  for _, ev in ipairs(record.events) do
    table.insert(want, ev.seq .. " " .. ev.event)
  end
  for _, ev in ipairs(fired_for(id)) do
    table.insert(got, ev.seq .. " " .. ev.event)
  end
  assert(#want > 20, "the record has only " .. #want .. " events")
  eq(got, want, "autocommands against the record")
end)

test(":MimirDeliverables saves all six into deliverables/, as staged, with one toast", function()
  local complete = fired_for(id, "execution-complete")[1]
  local staged = complete.data.deliverables
  eq(#staged, 6, "staged deliverables")
  local shown = script_select({ "📥 All" })
  vim.ui.input = function(opts, on_confirm)
    on_confirm(opts.default) -- deliverables
  end
  -- Both the answer to the save and its event must be in before counting
  -- the toasts: they come in either order.
  local client = require("mimir.client")
  local request, answered = client.request, false
  client.request = function(method, params, cb)
    return request(method, params, function(...)
      cb(...)
      answered = answered or method == "mimir/saveDeliverables"
    end)
  end
  local before = #fired_for(id, "deliverables-saved")
  local ok, err = pcall(function()
    vim.cmd("MimirDeliverables")
    wait_for("the save's answer and its event", function()
      return answered and #fired_for(id, "deliverables-saved") > before
    end)
  end)
  client.request = request
  assert(ok, err)
  local msg = "✅ Downloaded 6 deliverables to " .. ws .. "/deliverables"
  eq(shown[1][1], "✔ Save selected (0)", "first choice")
  eq(shown[1][2], "📥 All 6 deliverables", "second choice")
  eq(#messages(msg), 1, "toasts saying " .. msg)
  for _, d in ipairs(staged) do
    local path = ws .. "/deliverables/" .. d.path
    assert(uv.fs_stat(path), d.path .. " was not saved")
    eq(vim.fn.sha256(read(path)), d.sha256, d.path .. "'s sha256")
  end
  eq(#files_under(ws .. "/deliverables"), 6, "files saved")
end)

test(":MimirDeliverables saves the files picked, into the folder given", function()
  local paths = {}
  for _, d in ipairs(fired_for(id, "execution-complete")[1].data.deliverables) do
    table.insert(paths, d.path)
  end
  table.sort(paths)
  local a, b = paths[1], paths[#paths]
  -- Pick a and b, unpick a, pick it again, then save.
  local shown = script_select({
    "[ ] " .. a .. " (", "[ ] " .. b .. " (", "[x] " .. a .. " (", "[ ] " .. a .. " (", "✔ Save selected",
  })
  answer_input("picked")
  local before = #messages("to " .. ws .. "/picked")
  vim.cmd("MimirDeliverables " .. id)
  wait_for("the save", function()
    return #messages("to " .. ws .. "/picked") > before
  end)
  local counts = vim.tbl_map(function(labels)
    return labels[1]
  end, shown)
  eq(counts, {
    "✔ Save selected (0)", "✔ Save selected (1)", "✔ Save selected (2)", "✔ Save selected (1)", "✔ Save selected (2)",
  }, "the lists shown")
  eq(files_under(ws .. "/picked"), { a, b }, "files saved")
end)

test(":MimirDeliverables <id> <path…> saves those, and completes the paths", function()
  local line = "MimirDeliverables " .. id .. " "
  local all = vim.fn.getcompletion(line, "cmdline")
  eq(#all, 6, "paths completed: " .. vim.inspect(all))
  local fr = vim.fn.getcompletion(line .. "translate-fr/", "cmdline")
  eq(fr, { "translate-fr/docs/fr/README.md" }, "paths under translate-fr/")
  local site = vim.fn.getcompletion(line .. "site/", "cmdline")
  assert(#site > 0, "no site/ paths")
  eq(vim.fn.getcompletion("MimirDeliverables ex_", "cmdline"), { id }, "the id completed")
  answer_input("typed")
  local before = #messages("to " .. ws .. "/typed")
  vim.cmd(line .. fr[1] .. " " .. site[1])
  wait_for("the save", function()
    return #messages("to " .. ws .. "/typed") > before
  end)
  local want = { fr[1], site[1] }
  table.sort(want)
  eq(files_under(ws .. "/typed"), want, "files saved")
end)

test(":MimirDeliverables says why a download failed, naming each file that did not save", function()
  local site = vim.fn.getcompletion("MimirDeliverables " .. id .. " site/", "cmdline")[1]
  local fr = "translate-fr/docs/fr/README.md"
  write(ws .. "/blocked/translate-fr", "a file where a folder must go")
  local function download(args, target, prefix)
    answer_input(target)
    local before = #messages(prefix)
    vim.cmd("MimirDeliverables " .. args)
    wait_for("a message starting " .. prefix, function()
      return #messages(prefix) > before
    end, 10000)
    local found = messages(prefix)
    local note = found[#found]
    assert(note.msg:sub(1, #prefix) == prefix, note.msg)
    return note
  end
  local some = download(id .. " " .. fr .. " " .. site, "blocked", "⚠️ Downloaded 1 of 2 deliverables to " .. ws .. "/blocked; failed: " .. fr .. " (")
  eq(some.level, vim.log.levels.WARN, "some failed: level")
  local all = download(id .. " " .. fr, "blocked", "❌ Download failed: none of 1 deliverables could be saved: " .. fr .. " (")
  eq(all.level, vim.log.levels.ERROR, "all failed: level")
  local refused = download(id .. " nope.md", "typed", "❌ Download failed: ")
  assert(refused.msg:find("nope.md", 1, true), refused.msg)
  eq(refused.level, vim.log.levels.ERROR, "refused: level")
  local unknown = download("ex_nope", "typed", "❌ Download failed: ")
  assert(unknown.msg:find("ex_nope", 1, true), unknown.msg)
end)

test(":MimirDownloads lists the saves, newest first, and opens a file of one", function()
  local shown = script_select({ "✅ Saved 2 deliverables to " .. ws .. "/typed", "✓ translate-fr/docs/fr/README.md" })
  vim.cmd("MimirDownloads")
  wait_for("the saves listed, then the files of one", function()
    return #shown == 2
  end)
  local newest = "⚠️ Saved 0 of 1 deliverables to " .. ws .. "/blocked (1 failed)"
  eq(shown[1][1]:sub(1, #newest), newest, "the newest save first")
  wait_for("the file opened", function()
    return vim.api.nvim_buf_get_name(0) == ws .. "/typed/translate-fr/docs/fr/README.md"
  end)
  vim.cmd("bwipeout")
end)

test("an auto-save still shows its toast", function()
  local client = require("mimir.client")
  local res, err = client.request_sync("mimir/execute", {
    inline = "name: note\ntasks:\n  - id: note\n    worker: {command: 'echo hi > note.txt'}\n    deliverables: [note.txt]\n",
    autoSave = true,
  })
  assert(res, vim.inspect(err))
  wait_for("deliverables-saved", function()
    return #fired_for(res.executionId, "deliverables-saved") > 0
  end)
  local saved = fired_for(res.executionId, "deliverables-saved")[1]
  eq(#messages(saved.data.message), 1, "toasts saying " .. saved.data.message)
end)

test("completion lists workflows and executions", function()
  local cmds = require("mimir.commands")
  local wfs = cmds.complete_workflows("examples/")
  assert(vim.tbl_contains(wfs, "examples/translate-docs/workflow.yaml"), vim.inspect(wfs))
  eq(cmds.complete_executions("ex_")[#cmds.complete_executions("ex_")], id, "the oldest execution last")
end)

test("a broken workflow shows diagnostics and its run says why", function()
  local path = ws .. "/broken.mimir.yaml"
  write(path, "name: broken\ntasks:\n  - id: a\n    worker: {command: x}\n    dependsOn: [nope]\n  - id: b\n    worker: {command: x}\n    dependsOn: [nada]\n")
  vim.cmd("edit " .. path)
  local buf = vim.api.nvim_get_current_buf()
  wait_for("diagnostics", function()
    return #vim.diagnostic.get(buf) > 0
  end)
  local d = vim.diagnostic.get(buf)[1]
  eq({ d.lnum, d.col }, { 4, 16 }, "position")
  -- Other notes may come meanwhile (a late toast): wait for this one.
  local why = 'depends on "nope"'
  local before = #messages(why)
  vim.cmd("MimirRun")
  wait_for("an error saying " .. why, function()
    return #messages(why) > before
  end)
  local found = messages(why)
  local note = found[#found]
  assert(vim.startswith(note.msg, "❌ "), note.msg)
  eq(note.level, vim.log.levels.ERROR, "level")
  -- Every problem once: the sidecar's message lists them all already.
  for _, p in ipairs({ 'depends on "nope"', 'depends on "nada"' }) do
    local _, n = note.msg:gsub(vim.pesc(p), "")
    eq(n, 1, "times " .. p .. " is in " .. note.msg)
  end
end)

local slow = "name: slow\ntasks:\n  - id: nap\n    worker: {command: sleep 300}\n"

local function run_slow()
  local path = ws .. "/slow.mimir.yaml"
  write(path, slow)
  local count = #events.order
  vim.cmd("MimirRun " .. path)
  wait_for("the run", function()
    local newest = events.executions[events.order[#events.order]]
    return #events.order > count and newest.status == "running"
  end)
  return events.order[#events.order]
end

test(":MimirCancel stops a running execution", function()
  local exid = run_slow()
  vim.cmd("MimirCancel")
  wait_for("the cancel", finished(exid), 5000)
  eq(events.executions[exid].status, "cancelled", "status")
end)

-- The pid of pid's child running the slow worker, once it runs it: a child
-- not yet past exec still holds the sidecar's files, the journal's lock
-- among them, and would keep it from the next sidecar. Linux's /proc.
local function slow_worker(pid)
  for _, dir in ipairs(vim.fn.glob("/proc/[0-9]*", false, true)) do
    local stat = io.open(dir .. "/stat")
    local ppid = stat and stat:read("*a"):match("^%d+ %b() %S+ (%d+)")
    if stat then
      stat:close()
    end
    if ppid == tostring(pid) then
      local cmdline = io.open(dir .. "/cmdline")
      local cmd = cmdline and cmdline:read("*a") or ""
      if cmdline then
        cmdline:close()
      end
      if cmd:find("sleep 300", 1, true) then
        return tonumber(dir:match("%d+$"))
      end
    end
  end
end

test("an execution cut off by a killed sidecar is interrupted at once, and once", function()
  local client = require("mimir.client")
  local progress = require("mimir.progress")
  local exid = run_slow()
  local root = client.root(0)
  local pid = vim.lsp.get_client_by_id(client.ids[root]).rpc.pid
  local worker
  wait_for("the worker to run", function()
    worker = slow_worker(pid)
    return worker ~= nil
  end, 10000)
  local token = "mimir/" .. exid
  wait_for("its progress to begin", function()
    return progress.titles[token] ~= nil
  end)
  local warning = "⚠️ Execution interrupted: the sidecar stopped while it ran (slow, " .. exid .. ")"
  uv.kill(pid, "sigkill")
  wait_for("the client to exit", function()
    return client.ids[root] == nil
  end)
  uv.kill(-worker, "sigkill") -- its process group, left behind by the crash
  -- Known at once, before any sidecar runs again.
  wait_for("the execution to end with its sidecar", finished(exid), 5000)
  eq(events.executions[exid].status, "interrupted", "status once the sidecar died")
  eq(progress.titles[token], nil, "the title of its progress, which will never end")
  eq(#messages(warning), 1, "toasts saying " .. warning)
  local toasted = #messages("Execution interrupted")
  local before = #notes
  vim.cmd("MimirCancel")
  eq(notes[before + 1] and notes[before + 1].msg, "No running execution to cancel", "what :MimirCancel says")
  -- The new sidecar records the interruption too: one event, no second toast.
  assert(client.get(root), "no new sidecar")
  wait_for("execution-interrupted", function()
    return #fired_for(exid, "execution-interrupted") > 0
  end, 10000)
  eq(events.executions[exid].status, "interrupted", "status")
  eq(#fired_for(exid, "execution-interrupted"), 1, "execution-interrupted events")
  eq(#messages("Execution interrupted"), toasted, "toasts of the interruption")
end)

test(":MimirDeliverables with no id saves the newest completed execution's, asking the sidecar when this session saw none", function()
  local note
  for _, exid in ipairs(events.order) do
    if events.executions[exid].workflow == "note" then
      note = exid
    end
  end
  assert(note, "no execution of note")
  local paths = vim.tbl_map(function(d)
    return d.path
  end, events.executions[note].deliverables)
  local newest = events.executions[events.order[#events.order]]
  assert(newest.status ~= "completed", "the newest execution is " .. newest.status)
  local function download(target)
    local shown = script_select({ "📥 All" })
    answer_input(target)
    local msg = "✅ Downloaded 1 deliverable to " .. ws .. "/" .. target
    vim.cmd("MimirDeliverables")
    wait_for(msg, function()
      return #messages(msg) > 0
    end, 10000)
    eq(shown[1][1], "✔ Save selected (0)", "the list shown")
    eq(files_under(ws .. "/" .. target), paths, "files saved into " .. target)
  end
  download("newest")
  -- A session that saw no execution (one that started after it ran).
  local kept = { events.executions, events.order }
  events.executions, events.order = {}, {}
  local ok, err = pcall(download, "from-sidecar")
  events.executions, events.order = kept[1], kept[2]
  assert(ok, err)
end)

test(":MimirLog shows every event, and appends new ones", function()
  local log = require("mimir.log")
  vim.cmd("MimirLog")
  local buf = vim.api.nvim_get_current_buf()
  local ok, err = pcall(function()
    eq(vim.api.nvim_buf_get_name(buf), "mimir://log", "buffer")
    eq(vim.api.nvim_buf_get_lines(buf, 0, -1, false), log.lines, "lines")
    assert(#log.lines > 20, "only " .. #log.lines .. " lines")
    eq(vim.bo[buf].modifiable, false, "modifiable")
    local ev = { seq = 999999, executionId = "ex_log", event = "task-start", data = { taskId = "t", message = "▶️ Task started: t" } }
    events.on_event(ev)
    eq(vim.api.nvim_buf_get_lines(buf, -2, -1, false), { log.format(ev) }, "the line appended")
    eq(vim.bo[buf].modifiable, false, "modifiable after appending")
  end)
  vim.cmd("close")
  assert(ok, err)
end)

test(":checkhealth mimir names the version, the workspace and the SSE address", function()
  local client = require("mimir.client")
  local version = vim.trim(vim.fn.system({ bin, "version" }))
  local sse = client.request_sync("mimir/sse", {})
  assert(sse and sse.url, "no SSE address")
  vim.cmd("checkhealth mimir")
  local text = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
  assert(text:find(version, 1, true), "no version line " .. version .. " in:\n" .. text)
  assert(text:find("workspace: " .. ws, 1, true), text)
  assert(text:find("SSE mirror: " .. sse.url, 1, true), "no SSE address " .. sse.url .. " in:\n" .. text)
end)

-- Isolated tasks against the real sidecar, in a workspace of their own that
-- is a real git repository: examples/fix-a-failing-test, whose worker fixes
-- slugify.sh in a git worktree and whose QC runs the project's tests.

local fixws, fixid
local user_edit = "#!/bin/sh\n# slugify TITLE: yours.\nprintf '%s\\n' \"$1\" | tr A-Z a-z | tr ' ' '-'\n"

local function git(...)
  local out = vim.fn.system(vim.list_extend({ "git", "-C", fixws }, { ... }))
  return out, vim.v.shell_error
end

-- Runs the example's workflow in fixws and returns its execution's id.
local function run_fix()
  local before = #events.order
  vim.cmd("MimirRun fix/workflow.yaml")
  wait_for("the fix to start", function()
    return #events.order > before
  end)
  local exid = events.order[#events.order]
  wait_for("the fix to end", finished(exid))
  eq(events.executions[exid].status, "completed", "the fix's status")
  return exid
end

-- Waits for a notification with text, and for the event of execution exid
-- called name (they come in either order); returns the notifications.
local function answered(text, exid, name)
  local before = #fired_for(exid, name)
  return function()
    wait_for(text, function()
      return #messages(text) > 0 and #fired_for(exid, name) > before
    end)
    return messages(text)
  end
end

test(":MimirApply with a conflicting edit of yours applies nothing and puts the file in the quickfix list", function()
  local example = repo .. "/examples/fix-a-failing-test"
  fixws = vim.fn.resolve(vim.fn.tempname())
  vim.fn.mkdir(fixws .. "/fix", "p")
  vim.fn.system({ "cp", "-R", example .. "/project/.", fixws })
  vim.fn.system({ "cp", example .. "/workflow.yaml", example .. "/fix.sh", example .. "/check.sh", fixws .. "/fix/" })
  git("init", "-q")
  git("add", ".")
  local _, code = git("-c", "user.name=test", "-c", "user.email=test@localhost", "commit", "-qm", "slugify with a failing test")
  eq(code, 0, "git commit")
  vim.cmd("enew")
  vim.cmd("cd " .. vim.fn.fnameescape(fixws))
  local original = read(fixws .. "/slugify.sh")

  fixid = run_fix()
  eq(events.executions[fixid].changes, "pending", "changes after the run")
  eq(read(fixws .. "/slugify.sh"), original, "your slugify.sh before the apply")
  local task = fired_for(fixid, "task-complete")[1].data
  eq(task.changes.files, { { path = "slugify.sh", status = "modified" } }, "the task's changed files")
  local cmds = require("mimir.commands")
  eq(cmds.complete_changes("", "MimirApply "), { fixid, "--branch" }, "completion")

  write(fixws .. "/slugify.sh", user_edit)
  local msg = "⚠️ Nothing applied: 1 file conflict with your edits; resolve them, or apply on a branch: slugify.sh ("
  local wait = answered(msg, fixid, "changes-applied")
  vim.cmd("MimirApply")
  local shown = wait()
  eq(#shown, 1, "toasts of the conflict")
  eq(shown[1].level, vim.log.levels.WARN, "its level")
  eq(read(fixws .. "/slugify.sh"), user_edit, "your edit after the conflict")
  eq(events.executions[fixid].changes, "conflict", "changes after the conflict")
  local qf = vim.fn.getqflist({ items = 1, title = 1 })
  eq(qf.title, "Mimir: conflicts applying " .. fixid, "quickfix title")
  eq(#qf.items, 1, "quickfix items")
  eq(vim.api.nvim_buf_get_name(qf.items[1].bufnr), fixws .. "/slugify.sh", "the quickfix file: yours")
  local theirs = qf.items[1].text:match("; the task's version: (.+)$")
  assert(theirs, "no task's version in " .. qf.items[1].text)
  assert(qf.items[1].text:find("^conflict: "), qf.items[1].text)
  assert(read(theirs):find("tr -s", 1, true), "the task's version is not the fix:\n" .. read(theirs))
  eq(vim.fn.getwininfo(vim.fn.win_getid())[1].quickfix, 1, "the quickfix window is open")
  vim.cmd("cclose")
end)

test(":MimirExecutions shows a task's changed files, its patch, and where the changes stand", function()
  script_select({ fixid })
  local before = vim.api.nvim_get_current_buf()
  vim.cmd("MimirExecutions")
  wait_for("the execution's buffer", function()
    return vim.api.nvim_get_current_buf() ~= before
  end, 10000)
  local text = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
  vim.cmd("close")
  for _, want in ipairs({ "\n    M slugify.sh\n", "\n    📝 fix/fix.patch\n", "\nchanges: conflict (:MimirApply " .. fixid .. ", or :MimirDiscard " .. fixid .. ")" }) do
    assert(text:find(want, 1, true), "no " .. vim.inspect(want) .. " in:\n" .. text)
  end
end)

test(":MimirApply --branch commits the change on a new branch and leaves the working tree alone", function()
  local wait = answered("✅ Committed the changes to 1 file on branch mimir/fix", fixid, "changes-applied")
  vim.cmd("MimirApply " .. fixid .. " --branch mimir/fix")
  eq(#wait(), 1, "toasts")
  eq(read(fixws .. "/slugify.sh"), user_edit, "your edit")
  local fixed, code = git("show", "mimir/fix:slugify.sh")
  eq(code, 0, "git show mimir/fix:slugify.sh")
  assert(fixed:find("tr -s", 1, true), "the branch has no fix:\n" .. fixed)
  eq(vim.trim((git("rev-parse", "--abbrev-ref", "HEAD"))), "master", "the branch checked out")
  eq(events.executions[fixid].changes, "branch", "changes")
end)

test(":MimirApply applies the fix by a three-way merge: an unrelated edit of yours survives", function()
  git("checkout", "-q", "--", "slugify.sh")
  local readme = read(fixws .. "/README.md") .. "\nYour note.\n"
  write(fixws .. "/README.md", readme)
  local wait = answered("✅ Applied the changes to 1 file", fixid, "changes-applied")
  vim.cmd("MimirApply " .. fixid)
  eq(#wait(), 1, "toasts")
  eq(read(fixws .. "/README.md"), readme, "your README.md")
  vim.fn.system({ "sh", "-c", "cd " .. vim.fn.shellescape(fixws) .. " && sh test.sh" })
  eq(vim.v.shell_error, 0, "the project's tests after the apply")
  eq(events.executions[fixid].changes, "applied", "changes")
end)

test(":MimirDiscard removes the worktrees of the newest pending changes; with none, it says so", function()
  vim.cmd("MimirDiscard")
  wait_for(require("mimir.changes").nothing_to_discard, function()
    return #messages(require("mimir.changes").nothing_to_discard) > 0
  end)
  git("checkout", "-q", "--", ".")
  local exid = run_fix()
  local worktrees = fixws .. "/.mimir/executions/" .. exid .. "/worktrees"
  assert(uv.fs_stat(worktrees), "no worktrees before the discard: " .. worktrees)
  local wait = answered("🗑️ Discarded the worktrees of the changes of " .. exid, exid, "changes-discarded")
  vim.cmd("MimirDiscard")
  eq(#wait(), 1, "toasts")
  eq(uv.fs_stat(worktrees), nil, "the worktrees after the discard")
  eq(events.executions[exid].changes, "discarded", "changes")
  eq(vim.trim((git("status", "--porcelain", "--untracked-files=no"))), "", "your working tree")
end)

-- The runner: every test in order, each failing on its own error or on one
-- raised elsewhere while it ran. An error in the runner itself, or a hang
-- (a prompt waiting for input), ends the run with the summary, counting
-- the tests not run as failed.
local passed, failed = 0, 0
local current

local function summary()
  local not_run = #tests - passed - failed
  return string.format("%d passed, %d failed\n", passed, failed + not_run)
end

local function finish(code)
  io.stdout:write(summary())
  io.stdout:flush()
  pcall(require("mimir.client").stop_all)
  vim.cmd(code == 0 and "qall!" or "cquit " .. code)
end

local hang_ms = 240000 -- under run.sh's timeout of 300 s
local watchdog = uv.new_timer()
watchdog:start(hang_ms, 0, function()
  io.stdout:write(string.format("FAIL %s: the tests hung for %d s\n", tostring(current and current.name), hang_ms / 1000) .. summary())
  io.stdout:flush()
  os.exit(1)
end)

local ok, err = xpcall(function()
  for _, t in ipairs(tests) do
    current = t
    vim.v.errmsg = ""
    stray = {}
    local tok, terr = xpcall(t.fn, debug.traceback)
    if tok and #stray_errors() > 0 then
      tok, terr = false, "errors raised while it ran:\n" .. table.concat(stray, "\n")
    end
    if tok then
      passed = passed + 1
      io.stdout:write("ok   " .. t.name .. "\n")
    else
      failed = failed + 1
      io.stdout:write("FAIL " .. t.name .. "\n" .. tostring(terr) .. "\n")
    end
  end
end, debug.traceback)
watchdog:stop()
if not ok then
  io.stdout:write("FAIL the runner itself\n" .. tostring(err) .. "\n")
end
finish((ok and failed == 0 and passed == #tests) and 0 or 1)
