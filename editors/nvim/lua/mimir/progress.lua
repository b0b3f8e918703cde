-- $/progress: the default handler keeps it for the statusline and
-- fidget.nvim; Neovim itself draws nothing, so each step is also echoed
-- (begin, every report, end), one line that replaces the last and stays
-- out of the message history.
local config = require("mimir.config")

local M = {}

-- Every begin/report/end seen: { token, kind, title, message, percentage }.
M.seen = {}
-- Titles by token: only begin carries one. Each is forgotten at its end,
-- or when its client exits (its sidecar died and will never end it).
M.titles = {}
-- The client each token in titles came from.
local clients = {}

local max_seen = 1000

-- text cut to one line of the command line: a longer one would make
-- Neovim ask to press Enter.
local function fit(text)
  text = text:gsub("\n", " ")
  local space = vim.v.echospace
  if not space or space <= 0 or vim.fn.strdisplaywidth(text) <= space then
    return text
  end
  local n = vim.fn.strchars(text)
  while n > 0 and vim.fn.strdisplaywidth(text) > space - 1 do
    n = n - 1
    text = vim.fn.strcharpart(text, 0, n)
  end
  return text .. "…"
end

local function echo(token, value)
  local title = M.titles[token] or "Mimir"
  local text = value.message or ""
  if value.kind == "report" and value.percentage then
    text = string.format("%d%% %s", value.percentage, text)
  end
  vim.api.nvim_echo({ { fit(title .. ": " .. text), "None" } }, false, {})
end

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
  if type(value) ~= "table" or not value.kind then
    return
  end
  local token = result.token
  table.insert(M.seen, { token = token, kind = value.kind, title = value.title, message = value.message, percentage = value.percentage })
  if #M.seen > max_seen then
    table.remove(M.seen, 1)
  end
  if value.kind == "begin" then
    M.titles[token], clients[token] = value.title, ctx.client_id
  end
  if config.options.echo_progress then
    echo(token, value)
  end
  if value.kind == "end" then
    M.titles[token], clients[token] = nil, nil
  end
end

--- Forgets the progress of client_id, which has exited.
function M.client_exited(client_id)
  for token, id in pairs(clients) do
    if id == client_id then
      M.titles[token], clients[token] = nil, nil
    end
  end
end

return M
