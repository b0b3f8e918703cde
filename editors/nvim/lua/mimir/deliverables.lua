-- :MimirDeliverables: list an execution's deliverables, pick all or some
-- (or name them on the command line), and have the sidecar save them.
local client = require("mimir.client")
local config = require("mimir.config")
local events = require("mimir.events")

local M = {}

local function notify(msg, level)
  vim.notify(msg, level or vim.log.levels.INFO, { title = "Mimir" })
end

local function save(id, paths, target)
  -- The sidecar also reports the save as a deliverables-saved event; this
  -- answer is shown instead, with the failures spelled out.
  local done = events.expect_save(id)
  client.request("mimir/saveDeliverables", { executionId = id, paths = paths, target = target }, function(err, res)
    done(err ~= nil)
    if err then
      notify("❌ Saving deliverables failed: " .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    local failed = {}
    for _, r in ipairs(res.results or {}) do
      if r.status == "failed" then
        table.insert(failed, r.path .. " (" .. (r.error or "?") .. ")")
      end
    end
    local msg = res.message
    if #failed > 0 then
      msg = msg .. "\nfailed: " .. table.concat(failed, "\n")
    end
    notify(msg, res.failed > 0 and vim.log.levels.WARN or vim.log.levels.INFO)
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
          notify("Pick some files first, or choose All", vim.log.levels.WARN)
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
      return notify("❌ " .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
    end
    local list = res.deliverables or {}
    if #list == 0 then
      return notify("No deliverables to download", vim.log.levels.WARN)
    end
    pick(id, list, function(picked)
      ask_target(function(target)
        save(id, picked, target)
      end)
    end)
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
