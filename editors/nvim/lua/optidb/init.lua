-- OptiDB for Neovim: starts `optidb-lsp` for SQL buffers and for application code with SQL in its
-- strings (Python, TypeScript/JavaScript, Go, Rust, Java, Kotlin, Ruby) (vim.lsp.start), passes the settings
-- as initializationOptions and workspace/configuration section `optidb`, and handles the
-- client-side command `optidb.copyDdl` (the "Copy DDL …" code action) with the + register.

local M = {}

M.config = {
  cmd = { "optidb-lsp" },
  daemon_url = "http://127.0.0.1:7070",
  token = nil,
  daemon_ca = nil,
  severity = "hint",
  timeout_ms = 300,
  scan_poll_ms = 10000,
  filetypes = {
    "sql", "python", "typescript", "typescriptreact", "javascript", "javascriptreact",
    "go", "rust", "java", "kotlin", "ruby",
  },
}

local function settings()
  return {
    daemonUrl = M.config.daemon_url or "",
    token = M.config.token,
    daemonCa = M.config.daemon_ca,
    severity = M.config.severity,
    timeoutMs = M.config.timeout_ms,
    scanPollMs = M.config.scan_poll_ms,
  }
end

local function copy_ddl(command)
  local ddl = command.arguments and command.arguments[1]
  if type(ddl) ~= "string" or ddl == "" then
    vim.notify("OptiDB: no DDL to copy", vim.log.levels.WARN)
    return
  end
  vim.fn.setreg("+", ddl)
  vim.fn.setreg('"', ddl)
  vim.notify("OptiDB: DDL copied: " .. ddl, vim.log.levels.INFO)
end

local client_id = nil

local function start(bufnr)
  local root = (vim.fs and vim.fs.root) and vim.fs.root(bufnr, { ".git" }) or vim.fn.getcwd()
  local config = {
    name = "optidb",
    cmd = M.config.cmd,
    root_dir = root,
    init_options = settings(),
    settings = { optidb = settings() },
  }
  if vim.lsp.start then
    vim.lsp.start(config, { bufnr = bufnr })
    return
  end
  -- Neovim 0.7: one client, attached to every buffer of the filetypes.
  if client_id == nil or vim.lsp.get_client_by_id(client_id) == nil then
    client_id = vim.lsp.start_client(config)
  end
  if client_id then
    vim.lsp.buf_attach_client(bufnr, client_id)
  end
end

--- setup({ daemon_url = "http://127.0.0.1:7070", token = nil, daemon_ca = nil, severity = "hint",
---         timeout_ms = 300, scan_poll_ms = 10000, cmd = { "optidb-lsp" },
---         filetypes = { "sql", "python", "typescript", … } })
function M.setup(opts)
  M.config = vim.tbl_deep_extend("force", M.config, opts or {})
  vim.lsp.commands["optidb.copyDdl"] = copy_ddl
  local group = vim.api.nvim_create_augroup("optidb", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = M.config.filetypes,
    callback = function(args)
      start(args.buf)
    end,
  })
  -- Buffers already open when setup() runs.
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(buf) and vim.tbl_contains(M.config.filetypes, vim.bo[buf].filetype) then
      start(buf)
    end
  end
end

return M
