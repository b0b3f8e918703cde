-- Options of require("mimir").setup(), with their defaults.
local M = {}

M.defaults = {
  -- The sidecar to start: a list (command and arguments).
  cmd = { "mimir-sidecar" },
  -- Which phase toasts vim.notify shows: "all", "failures" or "none".
  notifications = "all",
  -- Save every completed execution's deliverables automatically.
  auto_save = false,
  -- Where deliverables are saved, inside the workspace.
  deliverables_folder = "deliverables",
  -- Echo each execution's progress ($/progress begin, report, end) on the
  -- command line; turn off when fidget.nvim or the statusline shows it.
  echo_progress = true,
  -- Run the SSE mirror for headless listeners (mimir-sidecar events).
  sse = true,
  -- Markers of a workspace root, searched upwards from the current file.
  root_markers = { ".mimir", ".git" },
}

M.options = vim.deepcopy(M.defaults)

local levels = { all = true, failures = true, none = true }

--- Merges user options over the defaults; a bad value is an error that says
--- what is accepted.
function M.set(opts)
  local merged = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), opts or {})
  if type(merged.cmd) == "string" then
    merged.cmd = { merged.cmd }
  end
  if type(merged.cmd) ~= "table" or type(merged.cmd[1]) ~= "string" then
    error("mimir: cmd must be the sidecar's command, e.g. { \"mimir-sidecar\" }")
  end
  if not levels[merged.notifications] then
    error("mimir: notifications must be \"all\", \"failures\" or \"none\", not " .. vim.inspect(merged.notifications))
  end
  M.options = merged
  return merged
end

return M
