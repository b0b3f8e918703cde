-- Every mimir/event notification goes through here: the plugin's view of
-- executions, the log, the toasts, and a User MimirEvent autocommand.
local config = require("mimir.config")
local log = require("mimir.log")
local toasts = require("mimir.toasts")

local M = {}

-- Executions seen, by id: { id, workflow, status, tasks, done,
-- deliverables, changes, client }. changes is where its isolated tasks'
-- changes stand: nil (none), pending, applied, conflict, branch or
-- discarded. status is nil for one first seen in its middle
-- (it began before the plugin listened): only execution-start makes one
-- running. client is the id of the LSP client whose sidecar last told of
-- it.
M.executions = {}
M.order = {}

-- What the sidecar says of an execution it finds cut off by its own end.
M.interrupted_message = "⚠️ Execution interrupted: the sidecar stopped while it ran"

-- Requests the plugin made whose event has not come yet, by event name
-- and execution id (a save's deliverables-saved, an apply's
-- changes-applied, a discard's changes-discarded): the plugin shows their
-- answer itself, so the event shows no toast.
M.own = {}

local finished = { ["task-complete"] = true, ["task-fail"] = true, ["task-skipped"] = true }

local ended = {
  ["execution-cancelled"] = "cancelled",
  ["execution-interrupted"] = "interrupted",
}

--- Notes that the plugin made a request of execution id that the sidecar
--- reports with an event called name (which then shows no toast);
--- done(true) when the answer says the request failed and no event will
--- come.
function M.expect(name, id)
  local own = M.own[name] or {}
  M.own[name] = own
  own[id] = (own[id] or 0) + 1
  return function(failed)
    if failed and (own[id] or 0) > 0 then
      own[id] = own[id] - 1
    end
  end
end

-- Whether ev answers a request of the plugin's (see expect): it is taken.
local function requested(ev)
  local own = M.own[ev.event]
  if own and (own[ev.executionId] or 0) > 0 then
    own[ev.executionId] = own[ev.executionId] - 1
    return true
  end
  return false
end

-- Updates the view of ev's execution; returns false when ev shows no
-- toast (a save the plugin reports itself, or an interruption it already
-- reported when the sidecar exited).
local function track(ev, client_id)
  local id = ev.executionId
  local ex = M.executions[id]
  if not ex then
    ex = { id = id, done = 0, tasks = 0, workflow = "" }
    M.executions[id] = ex
    table.insert(M.order, id)
  end
  ex.client = client_id or ex.client
  local d = ev.data or {}
  if ev.event == "execution-start" then
    ex.status, ex.workflow, ex.tasks = "running", d.workflow or "", d.tasks or 0
    ex.interrupted_on_exit = nil
  elseif finished[ev.event] then
    ex.done = ex.done + 1
    -- Where its isolated tasks' changes stand, as the sidecar keeps it
    -- (engine/state.go): pending from the first, then the last apply's
    -- status, or discarded.
    if ev.event == "task-complete" and type(d.changes) == "table" and ex.changes == nil then
      ex.changes = "pending"
    end
  elseif ev.event == "changes-applied" then
    ex.changes = d.status
    return not requested(ev)
  elseif ev.event == "changes-discarded" then
    ex.changes = "discarded"
    return not requested(ev)
  elseif ev.event == "execution-complete" then
    ex.status, ex.deliverables = d.status, d.deliverables
  elseif ended[ev.event] then
    local reported = ev.event == "execution-interrupted" and ex.interrupted_on_exit
    ex.interrupted_on_exit = nil
    ex.status = ended[ev.event]
    ex.deliverables = d.deliverables or ex.deliverables
    if reported then
      return false
    end
  elseif ev.event == "deliverables-saved" then
    return not requested(ev)
  end
  return true
end

--- The sidecar of LSP client client_id has exited: the executions it was
--- running are over. They are marked interrupted at once, as that
--- sidecar records them when it starts again (so :MimirCancel picks none
--- of them), with one warning each; the restarted sidecar's own
--- execution-interrupted event for one then changes nothing and shows no
--- second toast. Returns them.
function M.client_exited(client_id)
  local cut = {}
  for _, id in ipairs(M.order) do
    local ex = M.executions[id]
    if ex.client == client_id and ex.status == "running" then
      ex.status, ex.interrupted_on_exit = "interrupted", true
      table.insert(cut, ex)
      toasts.notify("warning", string.format("%s (%s, %s)", M.interrupted_message, ex.workflow, id), config.options.notifications)
    end
  end
  return cut
end

--- The newest execution that is still running, if any.
function M.latest_running()
  for i = #M.order, 1, -1 do
    local ex = M.executions[M.order[i]]
    if ex.status == "running" then
      return ex
    end
  end
end

local has_autocmd_data = vim.fn.has("nvim-0.8") == 1

local function fire(ev)
  if has_autocmd_data then
    vim.api.nvim_exec_autocmds("User", { pattern = "MimirEvent", data = ev, modeline = false })
  else
    -- Neovim 0.7's autocommands carry no data: the event is in
    -- vim.g.mimir_last_event while the autocommand runs.
    vim.g.mimir_last_event = ev
    vim.api.nvim_exec_autocmds("User", { pattern = "MimirEvent", modeline = false })
  end
end

--- Takes in an event, from the sidecar of LSP client client_id.
function M.on_event(ev, client_id)
  if type(ev) ~= "table" or not ev.event then
    return
  end
  local toast = track(ev, client_id)
  log.append(ev)
  if toast then
    toasts.show(ev, config.options.notifications)
  end
  fire(ev)
end

return M
