-- mimir.nvim: run AI-agent workflows through mimir-sidecar, with the
-- seed's phase notifications, progress, and deliverables.
--
--   require("mimir").setup({ cmd = { "mimir-sidecar" }, notifications = "all" })
--
-- See :help mimir.
local config = require("mimir.config")

local M = {}

-- Names that may mark a workflow file: a cheap first filter for the
-- autocommand. client.attach() then asks workflows.is_workflow(), which
-- also turns away GitHub Actions' .github/workflows/; buffers it accepts
-- get the sidecar's diagnostics.
M.workflow_patterns = {
  "*.mimir.yaml", "*.mimir.yml", "*.mimir.json",
  "workflow.yaml", "workflow.yml", "workflow.json",
  "*/workflows/*.yaml", "*/workflows/*.yml", "*/workflows/*.json",
}

function M.setup(opts)
  config.set(opts)
  local group = vim.api.nvim_create_augroup("mimir", { clear = true })
  vim.api.nvim_create_autocmd({ "BufReadPost", "BufNewFile" }, {
    group = group,
    pattern = M.workflow_patterns,
    callback = function(args)
      require("mimir.client").attach(args.buf)
    end,
  })
  vim.api.nvim_create_autocmd("VimLeavePre", {
    group = group,
    callback = function()
      require("mimir.client").stop_all()
    end,
  })
end

return M
