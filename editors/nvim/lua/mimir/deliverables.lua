-- :MimirDeliverables: list an execution's deliverables, pick all or some
-- (or name them on the command line), and have the sidecar save them.
local client = require("mimir.client")
local config = require("mimir.config")
local events = require("mimir.events")

local M = {}

local INFO, WARN, ERROR = vim.log.levels.INFO, vim.log.levels.WARN, vim.log.levels.ERROR

local function notify(msg, level)
  vim.notify(msg, level or INFO, { title = "Mimir" })
end

-- The messages a download ends with: the seed's, worded as the VS Code
-- extension's (editors/vscode/src/downloads.ts).

M.no_deliverables = "No deliverables to download"

--- The text of a download the sidecar refused, err its error or a reason.
function M.failed_text(err)
  local why = type(err) == "table" and (err.message or vim.inspect(err)) or tostring(err)
  return "❌ Download failed: " .. why
end

--- The level and text of the message for a mimir/saveDeliverables answer:
--- all saved, some failed (each named with its error), or all failed. A
--- save of nothing says there was nothing to download.
function M.outcome(res)
  local saved, failed = res.saved or 0, res.failed or 0
  if failed == 0 then
    if saved == 0 then
      return WARN, M.no_deliverables
    end
    return INFO, string.format("✅ Downloaded %d %s to %s", saved, saved == 1 and "deliverable" or "deliverables", res.target)
  end
  local failures = {}
  for _, r in ipairs(res.results or {}) do
    if r.status == "failed" then
      local why = type(r.error) == "string" and r.error ~= "" and r.error or "unknown error"
      table.insert(failures, string.format("%s (%s)", r.path, why))
    end
  end
  local list, total = table.concat(failures, ", "), saved + failed
  if saved == 0 then
    return ERROR, string.format("❌ Download failed: none of %d deliverables could be saved: %s", total, list)
  end
  return WARN, string.format("⚠️ Downloaded %d of %d deliverables to %s; failed: %s", saved, total, res.target, list)
end

local function save(id, paths, target)
  -- The sidecar also reports the save as a deliverables-saved event; this
  -- answer is shown instead, with the failures spelled out.
  local done = events.expect("deliverables-saved", id)
  client.request("mimir/saveDeliverables", { executionId = id, paths = paths, target = target }, function(err, res)
    done(err ~= nil)
    if err then
      return notify(M.failed_text(err), ERROR)
    end
    local level, text = M.outcome(res)
    notify(text, level)
  end)
end

local function ask_target(cb)
  vim.ui.input({ prompt = "Save into (inside the workspace): ", default = config.options.deliverables_folder }, function(target)
    if target and target ~= "" then
      cb(target)
    end
  end)
end

--- Lets the user pick deliverables from list, one vim.ui.select at a time:
--- picking a file toggles it and shows the list again; "Save selected"
--- or "All" ends with on_done(paths), nil paths meaning all.
local function pick(id, list, on_done)
  local picked = {}
  local function show()
    local count = 0
    for _, d in ipairs(list) do
      count = count + (picked[d.path] and 1 or 0)
    end
    local choices = {
      { label = string.format("✔ Save selected (%d)", count), action = "selected" },
      { label = string.format("📥 All %d deliverables", #list), action = "all" },
    }
    for _, d in ipairs(list) do
      local mark = picked[d.path] and "[x] " or "[ ] "
      table.insert(choices, { label = string.format("%s%s (%d bytes)", mark, d.path, d.size), path = d.path })
    end
    vim.ui.select(choices, {
      prompt = "Deliverables of " .. id .. " (pick files, then save)",
      format_item = function(c)
        return c.label
      end,
    }, function(choice)
      if not choice then
        return
      elseif choice.action == "all" then
        return on_done(nil)
      elseif choice.action == "selected" then
        local paths = {}
        for _, d in ipairs(list) do
          if picked[d.path] then
            table.insert(paths, d.path)
          end
        end
        if #paths == 0 then
          notify("Pick some files first, or choose All", WARN)
          return vim.schedule(show)
        end
        return on_done(paths)
      end
      picked[choice.path] = not picked[choice.path] or nil
      -- Once this list has closed: some vim.ui.select UIs cannot open a
      -- new one from inside their callback.
      vim.schedule(show)
    end)
  end
  show()
end

--- Saves deliverables of execution id: paths given, or picked.
function M.pick_and_save(id, paths)
  if paths and #paths > 0 then
    return ask_target(function(target)
      save(id, paths, target)
    end)
  end
  client.request("mimir/deliverables", { executionId = id }, function(err, res)
    if err then
      return notify(M.failed_text(err), ERROR)
    end
    local list = res.deliverables or {}
    if #list == 0 then
      return notify(M.no_deliverables, WARN)
    end
    pick(id, list, function(picked)
      ask_target(function(target)
        save(id, picked, target)
      end)
    end)
  end)
end

--- Calls cb with the id of the newest completed execution that has
--- deliverables: the newest this session saw, else the sidecar's (it keeps
--- those of earlier sessions), else nil (and the sidecar's error, if any).
function M.newest(cb)
  for i = #events.order, 1, -1 do
    local ex = events.executions[events.order[i]]
    if ex.status == "completed" and type(ex.deliverables) == "table" and #ex.deliverables > 0 then
      return cb(ex.id)
    end
  end
  -- The history comes a page at a time, newest first.
  local function page(cursor)
    client.request("mimir/executions", { cursor = cursor }, function(err, res)
      if err then
        return cb(nil, err)
      end
      for _, s in ipairs(res.executions or {}) do
        if s.status == "completed" and (tonumber(s.deliverables) or 0) > 0 then
          return cb(s.executionId)
        end
      end
      if type(res.nextCursor) == "string" then
        return page(res.nextCursor)
      end
      cb(nil)
    end)
  end
  page(nil)
end

--- Saves the deliverables of the newest completed execution that has any.
function M.save_newest()
  M.newest(function(id, err)
    if err then
      return notify(M.failed_text(err), ERROR)
    elseif not id then
      return notify(M.no_deliverables .. ": no completed execution has any", WARN)
    end
    M.pick_and_save(id)
  end)
end

--- The deliverable paths of execution id, for completion: from its events
--- when the plugin saw it end, else from the sidecar if one runs (never
--- starting one).
function M.paths(id)
  local ex = events.executions[id]
  local list = ex and ex.deliverables
  if not list then
    local running = client.running()
    local res = running and client.request_sync("mimir/deliverables", { executionId = id }, 1000, running)
    list = res and res.deliverables or {}
  end
  return vim.tbl_map(function(d)
    return d.path
  end, list)
end

return M
