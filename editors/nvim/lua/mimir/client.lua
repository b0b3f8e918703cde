-- Starting, finding and talking to the sidecar: one LSP client named
-- "mimir" per workspace root, through Neovim's own LSP client so that
-- :LspInfo and friends see it.
local compat = require("mimir.compat")
local config = require("mimir.config")
local events = require("mimir.events")
local progress = require("mimir.progress")
local workflows = require("mimir.workflows")

local M = {}

-- Client ids by workspace root.
M.ids = {}
-- What each root's sidecar said about itself in its initialize result:
-- { version, workspace, protocolVersion, sse = { url, token } }.
M.info = {}

local function dirname(path)
  return vim.fn.fnamemodify(path, ":h")
end

--- The workspace root for a buffer: the nearest folder upwards holding a
--- root marker, else the current directory.
function M.root(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr or 0)
  local dir = name ~= "" and dirname(vim.fn.fnamemodify(name, ":p")) or vim.fn.getcwd()
  local cwd = vim.fn.getcwd()
  while dir and dir ~= "" do
    for _, marker in ipairs(config.options.root_markers) do
      if compat.uv.fs_stat(dir .. "/" .. marker) then
        return dir
      end
    end
    local parent = dirname(dir)
    if parent == dir then
      break
    end
    dir = parent
  end
  return cwd
end

local function command()
  local cmd = vim.deepcopy(config.options.cmd)
  if not config.options.sse then
    table.insert(cmd, "--no-sse")
  end
  return cmd
end

--- Starts the sidecar for root (once) and returns its client id, or nil
--- and a message saying what to do. Attaches bufnr to it when given.
function M.start(root, bufnr)
  local id = M.ids[root]
  if id and vim.lsp.get_client_by_id(id) then
    if bufnr then
      vim.lsp.buf_attach_client(bufnr, id)
    end
    return id
  end
  local cmd = command()
  if vim.fn.executable(cmd[1]) ~= 1 then
    return nil, string.format(
      "mimir: cannot find the sidecar %q: install it (go install ./cmd/mimir-sidecar in its repository) "
        .. "or set cmd in require(\"mimir\").setup({ cmd = { \"/path/to/mimir-sidecar\" } })",
      cmd[1]
    )
  end
  local uri = vim.uri_from_fname(root)
  id = compat.start({
    name = "mimir",
    cmd = cmd,
    root_dir = root,
    workspace_folders = { { uri = uri, name = vim.fn.fnamemodify(root, ":t") } },
    init_options = {
      toasts = "none", -- this plugin shows its own
      autoSave = config.options.auto_save,
      deliverablesFolder = config.options.deliverables_folder,
    },
    handlers = {
      ["mimir/event"] = function(_, ev, ctx)
        events.on_event(ev, ctx and ctx.client_id)
      end,
      ["$/progress"] = progress.handler,
    },
    on_init = function(_, result)
      local info = vim.deepcopy(result.mimir or {})
      info.version = result.serverInfo and result.serverInfo.version
      M.info[root] = info
    end,
    on_exit = function(_, _, client_id)
      if M.ids[root] == client_id then
        M.ids[root], M.info[root] = nil, nil
      end
      -- Neovim 0.7 calls this in a fast event, where notifying (and most
      -- of the API) is not allowed.
      vim.schedule(function()
        events.client_exited(client_id)
        progress.client_exited(client_id)
      end)
    end,
  }, bufnr)
  if not id then
    return nil, "mimir: the sidecar did not start; :checkhealth mimir says why"
  end
  M.ids[root] = id
  return id
end

--- The client already running for root and initialized, or nil: for
--- what must neither start the sidecar nor wait for it (completion).
function M.running(root)
  local id = M.ids[root or M.root(0)]
  local client = id and vim.lsp.get_client_by_id(id)
  if client and client.initialized then
    return client
  end
end

--- The running client for root, started if need be, once initialized
--- (waiting up to timeout ms); nil and a message otherwise.
function M.get(root, timeout)
  root = root or M.root(0)
  local id, err = M.start(root)
  if not id then
    return nil, err
  end
  local client
  vim.wait(timeout or 10000, function()
    client = vim.lsp.get_client_by_id(id)
    return client ~= nil and client.initialized == true
  end, 10)
  if not client or not client.initialized then
    return nil, "mimir: the sidecar did not answer initialize; :checkhealth mimir says why"
  end
  return client
end

--- Sends a request; cb(err, result) runs on the main loop.
function M.request(method, params, cb)
  local client, err = M.get()
  if not client then
    cb({ message = err })
    return
  end
  compat.request(client, method, params, function(e, result)
    cb(e, result)
  end)
end

--- Sends a request and waits for its answer: result, err. With client
--- given, that client, else the current workspace's (started if need be).
function M.request_sync(method, params, timeout, client)
  local err
  if not client then
    client, err = M.get()
    if not client then
      return nil, { message = err }
    end
  end
  local resp = compat.request_sync(client, method, params, timeout or 10000)
  if not resp then
    return nil, { message = "mimir: " .. method .. " got no answer in time" }
  end
  return resp.result, resp.err
end

-- path relative to root, or path itself when it is not under root.
local function relative(root, path)
  local prefix = root:sub(-1) == "/" and root or root .. "/"
  if path:sub(1, #prefix) == prefix then
    return path:sub(#prefix + 1)
  end
  return path
end

--- Attaches the workspace's client to a workflow buffer, so that its
--- problems show as diagnostics while editing. The autocommand's patterns
--- only sift: `*/workflows/*.yml` also matches GitHub Actions'
--- .github/workflows/ci.yml, which must not start the sidecar (it would
--- write .mimir/ into every repository with CI). Only a file the sidecar
--- itself counts as a workflow, by its path in the workspace, does.
function M.attach(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr)
  if name == "" then
    return
  end
  local root = M.root(bufnr)
  if workflows.is_workflow(relative(root, vim.fn.fnamemodify(name, ":p"))) then
    M.start(root, bufnr)
  end
end

--- Stops every sidecar this plugin started.
function M.stop_all()
  for root, id in pairs(M.ids) do
    compat.stop(id)
    M.ids[root], M.info[root] = nil, nil
  end
end

return M
