-- :MimirApply and :MimirDiscard: the changes of isolated tasks (isolation:
-- worktree or copy), applied to the working tree by a three-way merge, or
-- committed on a new branch, or discarded. Conflicts go to the quickfix
-- list. Messages are worded as the VS Code extension's
-- (editors/vscode/src/changes.ts).
local client = require("mimir.client")
local events = require("mimir.events")

local M = {}

local INFO, WARN, ERROR = vim.log.levels.INFO, vim.log.levels.WARN, vim.log.levels.ERROR

local function notify(msg, level)
  vim.notify(msg, level or INFO, { title = "Mimir" })
end

M.no_changes = "No changes to apply: only tasks with isolation: worktree (or copy) that completed have changes"
M.nothing_to_discard = "No changes to discard: no execution has pending changes"

local function why(err)
  return type(err) == "table" and (err.message or vim.inspect(err)) or tostring(err)
end

function M.failed_text(err)
  return "❌ Apply failed: " .. why(err)
end

--- The arguments of :MimirApply: [id] [--branch NAME] (or --branch=NAME),
--- in any order. Returns id (or nil), branch (or nil), and an error text
--- when they make no sense.
function M.parse_args(fargs)
  local id, branch
  local i = 1
  while i <= #fargs do
    local a = fargs[i]
    if a == "--branch" then
      branch = fargs[i + 1]
      if not branch or branch == "" or branch:sub(1, 2) == "--" then
        return nil, nil, "mimir: --branch needs a name, e.g. :MimirApply --branch mimir/fix"
      end
      i = i + 1
    elseif a:sub(1, 9) == "--branch=" then
      branch = a:sub(10)
      if branch == "" then
        return nil, nil, "mimir: --branch needs a name, e.g. :MimirApply --branch mimir/fix"
      end
    elseif a:sub(1, 1) == "-" then
      return nil, nil, string.format("mimir: unknown option %s: :MimirApply [executionId] [--branch NAME]", a)
    elseif id then
      return nil, nil, string.format("mimir: one execution at a time: %s and %s", id, a)
    else
      id = a
    end
    i = i + 1
  end
  return id, branch
end

-- Files that kept the change from applying.
local function blocking(files)
  return vim.tbl_filter(function(f)
    return f.outcome == "conflict" or f.outcome == "refused"
  end, files or {})
end

--- The level and text of the message for a mimir/applyChanges answer: the
--- sidecar's own message, and for a conflict which files and why.
function M.outcome(res)
  if res.status ~= "conflict" then
    return INFO, res.message
  end
  local list = {}
  for _, f in ipairs(blocking(res.files)) do
    local reason = type(f.error) == "string" and f.error ~= "" and f.error or f.outcome
    table.insert(list, string.format("%s (%s)", f.path, reason))
  end
  if #list == 0 then
    return WARN, res.message
  end
  return WARN, res.message .. ": " .. table.concat(list, ", ")
end

--- Quickfix items for the files of an apply that did not apply: the
--- user's file (under root), the reason, and where the task's version is.
function M.quickfix_items(res, root)
  local items = {}
  for _, f in ipairs(blocking(res.files)) do
    local text = (type(f.error) == "string" and f.error ~= "" and f.error or f.outcome)
    if type(f.theirs) == "string" and f.theirs ~= "" then
      text = text .. "; the task's version: " .. f.theirs
    end
    table.insert(items, { filename = root .. "/" .. f.path, lnum = 1, col = 1, text = f.outcome .. ": " .. text, type = "E" })
  end
  return items
end

-- Whether changes in this state can be applied (again) or discarded.
local function actionable(state)
  return state == "pending" or state == "conflict"
end

--- Calls cb with the id of the newest execution whose changes can be
--- applied (pending, or conflicting last time): the newest this session
--- saw, else the sidecar's (it keeps those of earlier sessions), else nil
--- (and the sidecar's error, if any).
function M.newest(cb)
  for i = #events.order, 1, -1 do
    local ex = events.executions[events.order[i]]
    if actionable(ex.changes) then
      return cb(ex.id)
    end
  end
  client.request("mimir/executions", {}, function(err, res)
    if err then
      return cb(nil, err)
    end
    -- Newest first; their changes are in each one's details.
    local list = vim.tbl_filter(function(s)
      return s.status ~= "running"
    end, res.executions or {})
    local function try(i)
      local s = list[i]
      if not s or i > 20 then
        return cb(nil)
      end
      client.request("mimir/execution", { executionId = s.executionId }, function(err2, info)
        if err2 then
          return cb(nil, err2)
        end
        if actionable(info.changes) then
          return cb(s.executionId)
        end
        try(i + 1)
      end)
    end
    try(1)
  end)
end

-- Runs then_do with id, or the newest execution with changes to apply;
-- with none, says nothing (a message) instead.
local function with_id(id, failed, nothing, then_do)
  if id and id ~= "" then
    return then_do(id)
  end
  M.newest(function(found, err)
    if err then
      return notify(failed .. why(err), ERROR)
    elseif not found then
      return notify(nothing, WARN)
    end
    then_do(found)
  end)
end

--- Applies execution id's changes (the newest pending by default) to the
--- working tree, or commits them on branch. A conflict writes nothing: its
--- files go to the quickfix list, which opens.
function M.apply(id, branch)
  with_id(id, "❌ Apply failed: ", M.no_changes, function(exid)
    local root = client.root(0)
    -- The sidecar also reports the apply as a changes-applied event; this
    -- answer is shown instead, with the conflicts spelled out.
    local done = events.expect("changes-applied", exid)
    client.request("mimir/applyChanges", { executionId = exid, branch = branch }, function(err, res)
      done(err ~= nil)
      if err then
        return notify(M.failed_text(err), ERROR)
      end
      local level, text = M.outcome(res)
      notify(text, level)
      if res.status == "conflict" then
        vim.fn.setqflist({}, " ", { title = "Mimir: conflicts applying " .. exid, items = M.quickfix_items(res, root) })
        vim.cmd("botright copen")
      end
    end)
  end)
end

--- Discards execution id's worktrees (the newest pending by default): the
--- user's files are not touched, and the change stays recorded.
function M.discard(id)
  with_id(id, "❌ Discard failed: ", M.nothing_to_discard, function(exid)
    local done = events.expect("changes-discarded", exid)
    client.request("mimir/discardChanges", { executionId = exid }, function(err)
      done(err ~= nil)
      if err then
        return notify("❌ Discard failed: " .. why(err), ERROR)
      end
      notify("🗑️ Discarded the worktrees of the changes of " .. exid)
    end)
  end)
end

--- Execution ids whose changes can be applied, newest first, for completion.
function M.pending_ids()
  local ids = {}
  for i = #events.order, 1, -1 do
    local ex = events.executions[events.order[i]]
    if actionable(ex.changes) then
      table.insert(ids, ex.id)
    end
  end
  return ids
end

return M
