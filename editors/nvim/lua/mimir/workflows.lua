-- Workflow files on disk, found the way the sidecar finds them (its
-- workspace/discover.go): for :MimirRun's completion when no sidecar runs,
-- and to resolve the paths it completes.
local uv = require("mimir.compat").uv

local M = {}

-- Folders never searched: other people's files, or the sidecar's own.
local skip = {
  [".git"] = true, [".hg"] = true, [".svn"] = true, [".mimir"] = true, node_modules = true,
  vendor = true, deliverables = true, [".build"] = true, dist = true,
}
local max_depth, max_found, max_dirs = 8, 1000, 5000

--- Whether rel (relative to the workspace, with /) is named like a
--- workflow: *.mimir.{yaml,yml,json}, workflow.{yaml,yml,json}, or YAML or
--- JSON in a workflows/ folder other than GitHub Actions' .github/workflows/.
function M.is_workflow(rel)
  local dir, stem, ext = rel:match("^(.-)/?([^/]+)%.([^./]+)$")
  if not stem or not (ext == "yaml" or ext == "yml" or ext == "json") then
    return false
  end
  if stem == "workflow" or stem:match("%.mimir$") ~= nil then
    return true
  end
  return dir:match("[^/]*$") == "workflows" and dir ~= ".github/workflows" and dir:match("/%.github/workflows$") == nil
end

--- The workflow files under root, relative to it and sorted. The walk is
--- bounded (depth, files found, folders read) so completion never stalls
--- on a huge tree.
function M.find(root)
  local found, queue, dirs = {}, { { "", 0 } }, 0
  while #queue > 0 and #found < max_found and dirs < max_dirs do
    local next_dir = table.remove(queue, 1)
    local rel, depth = next_dir[1], next_dir[2]
    dirs = dirs + 1
    local handle = uv.fs_scandir(rel == "" and root or root .. "/" .. rel)
    while handle do
      local name, kind = uv.fs_scandir_next(handle)
      if not name then
        break
      end
      local path = rel == "" and name or rel .. "/" .. name
      if kind == "directory" then
        if not skip[name] and depth + 1 < max_depth then
          table.insert(queue, { path, depth + 1 })
        end
      elseif kind == "file" and M.is_workflow(path) then
        table.insert(found, path)
      end
    end
  end
  table.sort(found)
  return found
end

local function is_file(path)
  local stat = uv.fs_stat(path)
  return stat ~= nil and stat.type == "file"
end

--- The absolute path :MimirRun runs for arg: as given when absolute, else
--- relative to the workspace root (what completion offers), else to the
--- current folder when the file is only there. A file in neither resolves
--- against the root, and the sidecar says it is missing.
function M.resolve(root, arg)
  local function full(path)
    return vim.fn.simplify(vim.fn.fnamemodify(path, ":p"))
  end
  if arg:match("^[/~]") or arg:match("^%a:[/\\]") then
    return full(arg)
  end
  local in_root = full(root .. "/" .. arg)
  if is_file(in_root) then
    return in_root
  end
  local in_cwd = full(arg)
  if is_file(in_cwd) then
    return in_cwd
  end
  return in_root
end

return M
