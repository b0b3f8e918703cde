-- The :Mimir* commands and their completion.
local changes = require("mimir.changes")
local client = require("mimir.client")
local deliverables = require("mimir.deliverables")
local events = require("mimir.events")
local log = require("mimir.log")
local workflows = require("mimir.workflows")

local M = {}

local function notify(msg, level)
  vim.notify(msg, level or vim.log.levels.INFO, { title = "Mimir" })
end

local function fail(err)
  notify("❌ " .. (type(err) == "table" and (err.message or vim.inspect(err)) or tostring(err)), vim.log.levels.ERROR)
end

--- The absolute path of the workflow :MimirRun file runs: file is
--- relative to the workspace root, as completion offers it (or to the
--- current folder when it is only there).
function M.resolve_workflow(file)
  return workflows.resolve(client.root(0), file)
end

--- :MimirRun [file]: runs a workflow, the current file by default.
function M.run(file)
  local path
  if file and file ~= "" then
    path = M.resolve_workflow(file)
  else
    path = vim.api.nvim_buf_get_name(0)
    if path == "" then
      return fail("mimir: name a workflow file, or run :MimirRun from one")
    end
    path = vim.fn.fnamemodify(path, ":p")
  end
  client.request("mimir/execute", { workflow = path }, function(err, res)
    if err then
      -- An invalid workflow's message lists every problem (file:line:col),
      -- as err.data.problems does for a client that places them: shown once.
      return fail(err)
    end
    notify(string.format("🚀 %s started (%d tasks) as %s", res.workflow, res.tasks, res.executionId))
  end)
end

--- :MimirCancel [id]: cancels an execution, the newest running by default.
function M.cancel(id)
  if not id or id == "" then
    local ex = events.latest_running()
    if not ex then
      return notify("No running execution to cancel", vim.log.levels.WARN)
    end
    id = ex.id
  end
  client.request("mimir/cancel", { executionId = id }, function(err, res)
    if err then
      return fail(err)
    end
    notify(string.format("%s: %s", res.executionId, res.status))
  end)
end

local function show_execution(info)
  local lines = {
    string.format("%s  %s  %s", info.executionId, info.workflow, info.status),
    string.format("tasks: %d completed, %d failed of %d; %d deliverables", info.completedTasks, info.failedTasks, info.tasks, info.deliverables),
    "",
  }
  for _, t in ipairs(info.taskList or {}) do
    local score = t.score and string.format(" score %d", t.score) or ""
    table.insert(lines, string.format("%-10s %s (attempt %d/%d%s)", t.status, t.title, t.attempt, t.maxAttempts, score))
    if t.gap then
      if t.gap.feedback and t.gap.feedback ~= "" then
        table.insert(lines, "    feedback: " .. t.gap.feedback:gsub("\n", " "))
      end
      for _, i in ipairs(t.gap.issues or {}) do
        table.insert(lines, "    📋 " .. i)
      end
      for _, f in ipairs(t.gap.requiredFixes or {}) do
        table.insert(lines, "    🔧 " .. f)
      end
    end
    if t.error and t.error ~= "" then
      table.insert(lines, "    error: " .. t.error)
    end
    if type(t.changes) == "table" then
      for _, f in ipairs(t.changes.files or {}) do
        table.insert(lines, string.format("    %s %s", (f.status or "?"):sub(1, 1):upper(), f.path))
      end
      table.insert(lines, "    📝 " .. t.changes.patch)
    end
  end
  if info.changes and info.changes ~= "" then
    local next_step = (info.changes == "pending" or info.changes == "conflict")
        and string.format(" (:MimirApply %s, or :MimirDiscard %s)", info.executionId, info.executionId)
      or ""
    table.insert(lines, "changes: " .. info.changes .. next_step)
  end
  for _, d in ipairs(info.deliverableList or {}) do
    table.insert(lines, string.format("📄 %s (%d bytes)", d.path, d.size))
  end
  local buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.cmd("botright split")
  vim.api.nvim_win_set_buf(0, buf)
end

--- How many executions the picker shows before "Older executions…".
local executions_page = 100

--- :MimirExecutions: pick an execution, see its tasks. The history comes a
--- page at a time, newest first; older pages on request.
function M.executions()
  local list = {}
  local function page(cursor)
    client.request("mimir/executions", { cursor = cursor, limit = executions_page }, function(err, res)
      if err then
        return fail(err)
      end
      vim.list_extend(list, res.executions or {})
      if #list == 0 then
        return notify("No executions yet: run one with :MimirRun")
      end
      local items = vim.list_slice(list, 1, #list)
      if type(res.nextCursor) == "string" then
        table.insert(items, { more = res.nextCursor })
      end
      vim.ui.select(items, {
        prompt = "Executions",
        format_item = function(e)
          if e.more then
            return "… older executions"
          end
          return string.format("%s  %-20s %-10s %d/%d tasks", e.executionId, e.workflow, e.status, e.completedTasks, e.tasks)
        end,
      }, function(e)
        if not e then
          return
        elseif e.more then
          return page(e.more)
        end
        client.request("mimir/execution", { executionId = e.executionId }, function(err2, info)
          if err2 then
            return fail(err2)
          end
          show_execution(info)
        end)
      end)
    end)
  end
  page(nil)
end

--- :MimirDeliverables [id] [path…]: saves an execution's deliverables, by
--- default the newest completed execution's that has any.
function M.deliverables(args)
  local id = args[1]
  if not id or id == "" then
    return deliverables.save_newest()
  end
  deliverables.pick_and_save(id, vim.list_slice(args, 2))
end

--- :MimirApply [id] [--branch NAME]: applies an execution's changes (the
--- newest pending by default), or commits them on a new branch.
function M.apply(args)
  local id, branch, err = changes.parse_args(args)
  if err then
    return fail(err)
  end
  changes.apply(id, branch)
end

--- :MimirDiscard [id]: discards an execution's worktrees (the newest
--- pending by default).
function M.discard(id)
  changes.discard(id)
end

function M.log()
  log.open()
end

-- Completion.

local function matching(items, lead)
  return vim.tbl_filter(function(s)
    return s:sub(1, #lead) == lead
  end, items)
end

--- :MimirRun's completion: the workspace's workflows, relative to its
--- root. From the sidecar when one runs, else from the disk: completing
--- never starts the sidecar nor waits for it to start.
function M.complete_workflows(lead)
  local root = client.root(0)
  local paths
  local running = client.running(root)
  if running then
    local res = client.request_sync("mimir/workflows", {}, 1000, running)
    if res and res.workflows then
      paths = vim.tbl_map(function(w)
        return w.path
      end, res.workflows)
    end
  end
  local found = matching(paths or workflows.find(root), lead)
  if #found == 0 then
    return vim.fn.getcompletion(lead, "file")
  end
  return found
end

function M.complete_executions(lead)
  local ids = {}
  for i = #events.order, 1, -1 do
    table.insert(ids, events.order[i])
  end
  return matching(ids, lead)
end

--- :MimirApply's and :MimirDiscard's completion: the executions with
--- changes to apply, newest first, then --branch.
function M.complete_changes(lead, line)
  local items = changes.pending_ids()
  if line and not line:find("%-%-branch") then
    table.insert(items, "--branch")
  end
  return matching(items, lead)
end

--- :MimirDeliverables' completion: an execution id, then its deliverables'
--- paths (those not typed yet).
function M.complete_deliverables(lead, line)
  local args = vim.split(line:gsub("^%s+", ""), "%s+")
  -- args[1] is the command, the last one is lead (maybe empty).
  if #args <= 2 then
    return M.complete_executions(lead)
  end
  local typed = {}
  for i = 3, #args - 1 do
    typed[args[i]] = true
  end
  local paths = vim.tbl_filter(function(p)
    return not typed[p]
  end, deliverables.paths(args[2]))
  table.sort(paths)
  return matching(paths, lead)
end

return M
