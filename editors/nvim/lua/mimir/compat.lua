-- The few Neovim APIs that changed between 0.7.2 (Debian's) and now: use
-- the newer one where it exists, the older one where it does not.
local M = {}

local function has(version)
  return vim.fn.has("nvim-" .. version) == 1
end

-- libuv: vim.uv from 0.10, vim.loop before.
M.uv = vim.uv or vim.loop

-- 0.11 made the client's functions methods (client:request); calling them
-- as fields (client.request) is deprecated there and never took self
-- before.
local methods = has("0.11")

--- Sends a request; handler(err, result, ctx) runs on the main loop.
function M.request(client, method, params, handler)
  if methods then
    return client:request(method, params, handler)
  end
  return client.request(method, params, handler)
end

--- Sends a request and waits up to timeout ms: { err, result } or nil.
function M.request_sync(client, method, params, timeout)
  if methods then
    return client:request_sync(method, params, timeout)
  end
  return client.request_sync(method, params, timeout)
end

--- Stops a client by id.
function M.stop(id)
  local client = vim.lsp.get_client_by_id(id)
  if client and methods then
    return client:stop()
  end
  vim.lsp.stop_client(id)
end

--- Starts an LSP client and returns its id, attached to bufnr when given.
--- vim.lsp.start (0.8+) always attaches to a buffer until 0.11 added
--- attach = false, which also deprecated vim.lsp.start_client; where it
--- cannot start without attaching, vim.lsp.start_client does.
function M.start(config, bufnr)
  if vim.lsp.start and (bufnr or has("0.11")) then
    return vim.lsp.start(config, { bufnr = bufnr, attach = bufnr ~= nil })
  end
  local id = vim.lsp.start_client(config)
  if id and bufnr then
    vim.lsp.buf_attach_client(bufnr, id)
  end
  return id
end

return M
