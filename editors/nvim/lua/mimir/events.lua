-- Every mimir/event notification goes through here: the plugin's view of
-- executions, the log, the toasts, and a User MimirEvent autocommand.
local config = require("mimir.config")
local log = require("mimir.log")
local toasts = require("mimir.toasts")

local M = {}

-- Executions seen, by id: { id, workflow, status, tasks, done,
-- deliverables }. status is nil for one first seen in its middle (it began
-- before the plugin listened): only execution-start makes one running.
M.executions = {}
M.order = {}

-- Saves the plugin asked for, by execution id, whose deliverables-saved
-- event has not come yet: the plugin shows their result itself.
M.own_saves = {}

local finished = { ["task-complete"] = true, ["task-fail"] = true, ["task-skipped"] = true }

local ended = {
  ["execution-cancelled"] = "cancelled",
  ["execution-interrupted"] = "interrupted",
}

--- Notes that the plugin asked to save id's deliverables (its
--- deliverables-saved event then shows no toast); done(true) when the
--- answer says the save failed and no event will come.
function M.expect_save(id)
  M.own_saves[id] = (M.own_saves[id] or 0) + 1
  return function(failed)
    if failed and (M.own_saves[id] or 0) > 0 then
      M.own_saves[id] = M.own_saves[id] - 1
    end
  end
end

-- Updates the view of ev's execution; returns false when ev shows no
-- toast (a save the plugin reports itself).
local function track(ev)
  local id = ev.executionId
  local ex = M.executions[id]
  if not ex then
    ex = { id = id, done = 0, tasks = 0, workflow = "" }
    M.executions[id] = ex
    table.insert(M.order, id)
  end
  local d = ev.data or {}
  if ev.event == "execution-start" then
    ex.status, ex.workflow, ex.tasks = "running", d.workflow or "", d.tasks or 0
  elseif finished[ev.event] then
    ex.done = ex.done + 1
  elseif ev.event == "execution-complete" then
    ex.status, ex.deliverables = d.status, d.deliverables
  elseif ended[ev.event] then
    ex.status = ended[ev.event]
    ex.deliverables = d.deliverables or ex.deliverables
  elseif ev.event == "deliverables-saved" and (M.own_saves[id] or 0) > 0 then
    M.own_saves[id] = M.own_saves[id] - 1
    return false
  end
  return true
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

function M.on_event(ev)
  if type(ev) ~= "table" or not ev.event then
    return
  end
  local toast = track(ev)
  log.append(ev)
  if toast then
    toasts.show(ev, config.options.notifications)
  end
  fire(ev)
end

return M
