-- :checkhealth mimir
local M = {}

-- Neovim 0.7 has require("health").report_*, 0.8 vim.health.report_*,
-- 0.9+ vim.health.*.
local function api()
  local h = vim.health or require("health")
  return {
    start = h.start or h.report_start,
    ok = h.ok or h.report_ok,
    warn = h.warn or h.report_warn,
    error = h.error or h.report_error,
    info = h.info or h.report_info,
  }
end

function M.check()
  local h = api()
  local config = require("mimir.config")
  local client = require("mimir.client")
  h.start("mimir")
  local cmd = config.options.cmd[1]
  if vim.fn.executable(cmd) ~= 1 then
    h.error(string.format("sidecar %q not found", cmd), {
      "install it: go install ./cmd/mimir-sidecar (in the mimir-sidecar repository)",
      "or point setup() at it: require(\"mimir\").setup({ cmd = { \"/path/to/mimir-sidecar\" } })",
    })
    return
  end
  local version = vim.fn.system({ cmd, "version" })
  if vim.v.shell_error ~= 0 then
    h.error("the sidecar did not run: " .. version)
    return
  end
  h.ok(vim.trim(version) .. " at " .. vim.fn.exepath(cmd))
  local root = client.root(0)
  h.info("workspace: " .. root)
  local c, err = client.get(root, 5000)
  if not c then
    h.error(err)
    return
  end
  local info = client.info[root] or {}
  h.ok(string.format("sidecar running (client id %d, protocol %s)", c.id, info.protocolVersion or "?"))
  local ok, res = pcall(client.request_sync, "mimir/sse", {}, 2000)
  if ok and res and res.url then
    h.ok("SSE mirror: " .. res.url .. " (token in .mimir/sidecar.json)")
  else
    h.info("SSE mirror: off")
  end
end

return M
