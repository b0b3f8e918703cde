-- A Neovim with no plugin, only the statusline recipe of docs/protocol.md
-- ("A client with no plugin"), read from there and run as it is: its
-- built-in LSP client starts the sidecar and runs a workflow the way any
-- client can (workspace/executeCommand), and the statusline must show the
-- execution's $/progress. Run in its own Neovim by run.lua's test; prints
-- "statusline: …" and exits 0, or says what failed and exits 1.
local function fail(msg)
  io.stdout:write("FAIL " .. msg .. "\n")
  vim.cmd("cquit 1")
end

local ok, err = pcall(function()
  local doc = assert(io.open(vim.env.MIMIR_REPO .. "/docs/protocol.md")):read("*a")
  local recipe = doc:match("<!%-%- tested by editors/nvim/tests/plain%.lua[^\n]*\n```lua\n(.-)\n```")
  assert(recipe, "no lua block after the tested-by comment in docs/protocol.md")
  assert(loadstring(recipe, "the recipe"))()

  local ws = vim.fn.tempname()
  vim.fn.mkdir(ws, "p")
  local wf = ws .. "/slow.mimir.yaml"
  local f = assert(io.open(wf, "w"))
  f:write("name: slow\ntasks:\n  - id: nap\n    worker: {command: sleep 300}\n")
  f:close()

  local id = vim.lsp.start_client({ name = "mimir", cmd = { vim.env.MIMIR_SIDECAR_BIN }, root_dir = ws })
  local c = assert(vim.lsp.get_client_by_id(id))
  assert(vim.wait(20000, function() return c.initialized end, 20), "the sidecar did not initialize")
  local answered
  c.request("workspace/executeCommand", { command = "mimir.execute", arguments = { wf } }, function(e)
    answered = e and vim.inspect(e) or "ok"
  end)
  local line = ""
  local shown = vim.wait(20000, function()
    line = vim.api.nvim_eval_statusline(vim.o.statusline, {}).str
    return line:find("worker", 1, true) ~= nil
  end, 20)
  io.stdout:write("statusline: " .. line .. "\n")
  assert(answered == "ok", "mimir.execute: " .. tostring(answered))
  assert(shown, "the statusline shows no progress")
  c.stop()
  vim.wait(5000, function() return c.is_stopped() end, 20)
  vim.fn.delete(ws, "rf")
end)
if not ok then
  fail(tostring(err))
end
vim.cmd("qall!")
