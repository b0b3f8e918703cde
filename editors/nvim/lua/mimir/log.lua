-- The live event log: every event as one line, kept (bounded) so :MimirLog
-- shows the history, and appended to the log buffer while it is open.
local M = {}

local max_lines = 5000
M.lines = {}
local buf

--- Formats an event as one line: seq, name, task, message.
function M.format(ev)
  local d = ev.data or {}
  local task = d.taskId and ("[" .. d.taskId .. "] ") or ""
  local msg = (d.message or ""):gsub("\n", " ⏎ ")
  return string.format("%5d %-20s %s%s", ev.seq or 0, ev.event or "?", task, msg)
end

local function buf_valid()
  return buf and vim.api.nvim_buf_is_valid(buf)
end

function M.append(ev)
  local line = M.format(ev)
  table.insert(M.lines, line)
  if #M.lines > max_lines then
    table.remove(M.lines, 1)
  end
  if buf_valid() then
    vim.bo[buf].modifiable = true
    vim.api.nvim_buf_set_lines(buf, -1, -1, false, { line })
    vim.bo[buf].modifiable = false
  end
end

--- Opens (or shows) the log buffer in a split.
function M.open()
  if not buf_valid() then
    buf = vim.api.nvim_create_buf(false, true)
    vim.api.nvim_buf_set_name(buf, "mimir://log")
    vim.bo[buf].bufhidden = "hide"
    vim.api.nvim_buf_set_lines(buf, 0, -1, false, M.lines)
    vim.bo[buf].modifiable = false
  end
  vim.cmd("botright split")
  vim.api.nvim_win_set_buf(0, buf)
  return buf
end

return M
