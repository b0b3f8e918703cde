-- :MimirDeliverables: list an execution's deliverables, pick all or one
-- (or name them on the command line), and have the sidecar save them.
local client = require("mimir.client")
local config = require("mimir.config")

local M = {}

local function notify(msg, level)
  vim.notify(msg, level or vim.log.levels.INFO, { title = "Mimir" })
end

local function save(id, paths, target)
  client.request("mimir/saveDeliverables", { executionId = id, paths = paths, target = target }, function(err, res)
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
    local choices = { { label = string.format("📥 All %d deliverables", #list) } }
    for _, d in ipairs(list) do
      table.insert(choices, { label = string.format("%s (%d bytes)", d.path, d.size), path = d.path })
    end
    vim.ui.select(choices, {
      prompt = "Deliverables of " .. id,
      format_item = function(c)
        return c.label
      end,
    }, function(choice)
      if not choice then
        return
      end
      ask_target(function(target)
        save(id, choice.path and { choice.path } or nil, target)
      end)
    end)
  end)
end

return M
