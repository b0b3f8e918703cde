-- What an event shows as a notification: docs/protocol.md's Toasts table,
-- tested against testdata/toasts.json like the sidecar's and VS Code's.
local M = {}

local INFO, WARN, ERROR = "info", "warning", "error"

local function qc_failed(d)
  local text = string.format("⚠️ QC failed (Score: %d/100)", d.score or 0)
  if (d.attempt or 0) < (d.maxAttempts or 0) then
    text = text .. string.format(" - Retrying (%d/%d)", d.attempt, d.maxAttempts - 1)
  end
  local gap = d.gap
  if type(gap) == "table" then
    if type(gap.issues) == "table" and #gap.issues > 0 then
      text = text .. "\n\n📋 Issues:\n" .. table.concat(gap.issues, "\n")
    end
    if type(gap.requiredFixes) == "table" and #gap.requiredFixes > 0 then
      text = text .. "\n\n🔧 Required fixes:\n" .. table.concat(gap.requiredFixes, "\n")
    end
  end
  return text
end

--- Returns level ("info", "warning", "error") and text, or nil when the
--- event shows nothing.
function M.toast(ev)
  local d = ev.data or {}
  local name = ev.event
  if name == "worker-start" or name == "qc-start" then
    return INFO, d.message
  elseif name == "worker-complete" then
    return d.ok == false and WARN or INFO, d.message
  elseif name == "qc-complete" then
    if d.passed then
      return INFO, d.message
    end
    return WARN, qc_failed(d)
  elseif name == "task-fail" then
    if type(d.error) == "string" and d.error ~= "" then
      return ERROR, d.message .. ": " .. d.error
    end
    return ERROR, d.message
  elseif name == "execution-complete" then
    return d.status == "completed" and INFO or ERROR, d.message
  elseif name == "execution-cancelled" or name == "execution-warning" or name == "task-waiting" then
    return WARN, d.message
  elseif name == "deliverables-saved" then
    if type(d.error) == "string" and d.error ~= "" then
      return ERROR, d.message
    end
    return (d.failed or 0) > 0 and WARN or INFO, d.message
  end
  return nil
end

--- The toast of an apply of isolated tasks' changes, or of their discard,
--- that the plugin did not ask for (it shows its own answer to those it
--- did). Not in M.toast: the sidecar's table (testdata/toasts.json) does
--- not have them.
function M.changes_toast(ev)
  local d = ev.data or {}
  if ev.event == "changes-applied" then
    return d.status == "conflict" and WARN or INFO, d.message
  elseif ev.event == "changes-discarded" then
    return INFO, d.message
  end
  return nil
end

local vim_levels = { info = vim.log.levels.INFO, warning = vim.log.levels.WARN, error = vim.log.levels.ERROR }

--- Shows text at level ("info", "warning", "error") through vim.notify (so
--- nvim-notify and the like pop it up), filtered by the notifications
--- option.
function M.notify(level, text, setting)
  if not text or setting == "none" or (setting == "failures" and level == INFO) then
    return
  end
  vim.notify(text, vim_levels[level], { title = "Mimir" })
end

--- Shows the event's toast, filtered by the notifications option.
function M.show(ev, setting)
  local level, text = M.toast(ev)
  if not level then
    level, text = M.changes_toast(ev)
  end
  M.notify(level, text, setting)
end

return M
