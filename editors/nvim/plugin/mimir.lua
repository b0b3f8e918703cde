-- Commands are defined at startup; the plugin's modules load on first use.
if vim.g.loaded_mimir then
  return
end
vim.g.loaded_mimir = true

local function cmds()
  return require("mimir.commands")
end

vim.api.nvim_create_user_command("MimirRun", function(o)
  cmds().run(o.args)
end, {
  nargs = "?",
  complete = function(lead)
    return cmds().complete_workflows(lead)
  end,
  desc = "Run a workflow (the current file by default)",
})

vim.api.nvim_create_user_command("MimirCancel", function(o)
  cmds().cancel(o.args)
end, {
  nargs = "?",
  complete = function(lead)
    return cmds().complete_executions(lead)
  end,
  desc = "Cancel an execution (the newest running by default)",
})

vim.api.nvim_create_user_command("MimirExecutions", function()
  cmds().executions()
end, { desc = "List executions and show one" })

vim.api.nvim_create_user_command("MimirDeliverables", function(o)
  cmds().deliverables(o.fargs)
end, {
  nargs = "*",
  complete = function(lead, line)
    return cmds().complete_deliverables(lead, line)
  end,
  desc = "Save an execution's deliverables into the workspace",
})

vim.api.nvim_create_user_command("MimirApply", function(o)
  cmds().apply(o.fargs)
end, {
  nargs = "*",
  complete = function(lead, line)
    return cmds().complete_changes(lead, line)
  end,
  desc = "Apply an execution's changes to the working tree, or --branch NAME (the newest pending by default)",
})

vim.api.nvim_create_user_command("MimirDiscard", function(o)
  cmds().discard(o.args)
end, {
  nargs = "?",
  complete = function(lead)
    return cmds().complete_changes(lead)
  end,
  desc = "Discard the worktrees of an execution's changes (the newest pending by default)",
})

vim.api.nvim_create_user_command("MimirLog", function()
  cmds().log()
end, { desc = "Show the live event log" })

vim.api.nvim_create_user_command("MimirDownloads", function()
  require("mimir.downloads").open()
end, { desc = "List past saves of deliverables; open a saved file" })
