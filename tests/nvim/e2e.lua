-- Headless Neovim as an independent LSP client for tests/tests/lsp_nvim.rs: starts optidb-lsp,
-- opens a SQL file, waits for a live (daemon-backed) warning, asks for a hover on the slow
-- statement, and writes what it saw as JSON. Works on Neovim 0.7+ (start_client API).
local lsp_bin = os.getenv("OPTIDB_LSP")
local daemon = os.getenv("OPTIDB_DAEMON")
local sql_file = os.getenv("SQL_FILE")
local out_file = os.getenv("OUT_FILE")
local hover_line = tonumber(os.getenv("HOVER_LINE"))

local result = { diagnostics = {}, hover = nil, error = nil }
local function finish()
  local f = io.open(out_file, "w")
  f:write(vim.fn.json_encode(result))
  f:close()
  vim.cmd("qa!")
end

local ok, err = pcall(function()
  local client_id = vim.lsp.start_client({
    name = "optidb",
    cmd = { lsp_bin },
    root_dir = vim.fn.fnamemodify(sql_file, ":h"),
    init_options = { daemonUrl = daemon },
  })
  assert(client_id, "optidb-lsp did not start")
  vim.cmd("edit " .. vim.fn.fnameescape(sql_file))
  local buf = vim.api.nvim_get_current_buf()
  vim.lsp.buf_attach_client(buf, client_id)

  local live = function()
    for _, d in ipairs(vim.diagnostic.get(buf)) do
      if d.severity == vim.diagnostic.severity.WARN and d.lnum == hover_line then
        return true
      end
    end
    return false
  end
  vim.wait(30000, live, 100)
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    table.insert(result.diagnostics, {
      lnum = d.lnum, col = d.col, end_lnum = d.end_lnum, end_col = d.end_col,
      severity = d.severity, message = d.message, source = d.source,
    })
  end

  local params = {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    position = { line = hover_line, character = 3 },
  }
  local responses = vim.lsp.buf_request_sync(buf, "textDocument/hover", params, 10000)
  for _, r in pairs(responses or {}) do
    if r.result and r.result.contents then
      local c = r.result.contents
      result.hover = type(c) == "table" and (c.value or vim.fn.json_encode(c)) or c
    end
  end
end)
if not ok then
  result.error = tostring(err)
end
finish()
