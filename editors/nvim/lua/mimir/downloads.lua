-- :MimirDownloads: the download history, every save of deliverables into
-- the workspace (mimir/downloads), newest first. Picking a save lists its
-- files with what became of each; picking a file opens it.
local client = require("mimir.client")

local M = {}

local ERROR, WARN = vim.log.levels.ERROR, vim.log.levels.WARN

local function notify(msg, level)
  vim.notify(msg, level or vim.log.levels.INFO, { title = "Mimir" })
end

--- How many saves the picker shows before "older downloads".
local page_size = 50

local marks = { saved = "✓", overwritten = "✓", renamed = "✓", unchanged = "·", skipped = "·", failed = "✗" }

--- One file of a save, as the picker shows it.
function M.file_label(f)
  local label = string.format("%s %s (%s)", marks[f.status] or "?", f.path, f.status)
  if f.savedAs and f.status == "renamed" then
    label = label .. " → " .. f.savedAs
  elseif f.status == "failed" and f.error then
    label = label .. ": " .. f.error
  end
  return label
end

--- One save, as the picker shows it: what it did, then which execution
--- and when.
function M.download_label(d)
  local when = (d.time or ""):sub(1, 19):gsub("T", " ")
  return string.format("%s  (%s, %s)", d.message, d.executionId, when)
end

local function show_files(root, d)
  vim.ui.select(d.files or {}, { prompt = d.message, format_item = M.file_label }, function(f)
    if not f then
      return
    end
    if f.status == "failed" or not f.savedAs then
      return notify("Not saved: " .. (f.error or f.path), WARN)
    end
    vim.cmd("edit " .. vim.fn.fnameescape(root .. "/" .. f.savedAs))
  end)
end

function M.open()
  local root = client.root(0)
  local list = {}
  local function page(cursor)
    client.request("mimir/downloads", { cursor = cursor, limit = page_size }, function(err, res)
      if err then
        return notify("❌ " .. (type(err) == "table" and (err.message or vim.inspect(err)) or tostring(err)), ERROR)
      end
      vim.list_extend(list, res.downloads or {})
      if #list == 0 then
        return notify("No downloads yet: save deliverables with :MimirDeliverables")
      end
      local items = vim.list_slice(list, 1, #list)
      if type(res.nextCursor) == "string" then
        table.insert(items, { more = res.nextCursor })
      end
      vim.ui.select(items, {
        prompt = "Downloads",
        format_item = function(d)
          return d.more and "… older downloads" or M.download_label(d)
        end,
      }, function(d)
        if not d then
          return
        elseif d.more then
          return page(d.more)
        end
        -- Once this list has closed: some vim.ui.select UIs cannot open
        -- a new one from inside their callback.
        vim.schedule(function()
          show_files(root, d)
        end)
      end)
    end)
  end
  page(nil)
end

return M
