-- $/progress: the default handler keeps it for the statusline and
-- fidget.nvim; Neovim itself draws nothing, so begin and end are also
-- shown briefly.
local M = {}

-- Every begin/end seen, for tests and for :MimirExecutions.
M.seen = {}

function M.handler(err, result, ctx, cfg)
  -- A client that has quit since (its sidecar was killed) has nowhere to
  -- keep this, and the default handler would report that as an error.
  if not vim.lsp.get_client_by_id(ctx.client_id) then
    return
  end
  local default = vim.lsp.handlers["$/progress"]
  if default then
    default(err, result, ctx, cfg)
  end
  local value = result and result.value
  if type(value) ~= "table" then
    return
  end
  if value.kind == "begin" or value.kind == "end" then
    table.insert(M.seen, { token = result.token, kind = value.kind, title = value.title, message = value.message })
    if value.kind == "begin" then
      vim.api.nvim_echo({ { (value.title or "Mimir") .. ": " .. (value.message or ""), "None" } }, false, {})
    end
  end
end

return M
