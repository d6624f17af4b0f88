-- Headless Neovim as an independent LSP client for tests/tests/lsp_nvim.rs: loads the real
-- plugin (editors/nvim), which starts optidb-lsp for the buffers of its filetypes; opens each
-- case's file (SQL or application code), waits for a live (daemon-backed) warning on the
-- case's line, asks for a hover there, the code actions and the code lenses, and writes what it
-- saw as JSON. Works on Neovim 0.7+.
local lsp_bin = os.getenv("OPTIDB_LSP")
local daemon = os.getenv("OPTIDB_DAEMON")
local plugin_dir = os.getenv("OPTIDB_PLUGIN")
local cases = vim.fn.json_decode(os.getenv("CASES"))
local out_file = os.getenv("OUT_FILE")

local result = { cases = {}, error = nil }
local function finish()
  local f = io.open(out_file, "w")
  f:write(vim.fn.json_encode(result))
  f:close()
  vim.cmd("qa!")
end

local function request(buf, method, params)
  local out = {}
  local responses = vim.lsp.buf_request_sync(buf, method, params, 10000)
  for _, r in pairs(responses or {}) do
    if r.result then
      table.insert(out, r.result)
    end
  end
  return out
end

local ok, err = pcall(function()
  vim.opt.runtimepath:append(plugin_dir)
  vim.cmd("filetype on")
  require("optidb").setup({ cmd = { lsp_bin }, daemon_url = daemon })
  for _, case in ipairs(cases) do
    vim.cmd("edit " .. vim.fn.fnameescape(case.file))
    local buf = vim.api.nvim_get_current_buf()
    local seen = { file = case.file, filetype = vim.bo[buf].filetype, diagnostics = {},
                   hover = vim.NIL, actions = {}, lenses = {} }
    local live = function()
      for _, d in ipairs(vim.diagnostic.get(buf)) do
        if d.severity == vim.diagnostic.severity.WARN and d.lnum == case.line then
          return true
        end
      end
      return false
    end
    vim.wait(30000, live, 100)
    for _, d in ipairs(vim.diagnostic.get(buf)) do
      table.insert(seen.diagnostics, {
        lnum = d.lnum, col = d.col, end_lnum = d.end_lnum, end_col = d.end_col,
        severity = d.severity, message = d.message, source = d.source,
      })
    end
    local td = { uri = vim.uri_from_bufnr(buf) }
    local pos = { line = case.line, character = case.col }
    for _, h in ipairs(request(buf, "textDocument/hover", { textDocument = td, position = pos })) do
      local c = h.contents
      seen.hover = type(c) == "table" and (c.value or vim.fn.json_encode(c)) or c
    end
    local range = { start = pos, ["end"] = pos }
    for _, list in ipairs(request(buf, "textDocument/codeAction",
        { textDocument = td, range = range, context = { diagnostics = {} } })) do
      for _, a in ipairs(list) do
        table.insert(seen.actions, a.title)
      end
    end
    for _, list in ipairs(request(buf, "textDocument/codeLens", { textDocument = td })) do
      for _, l in ipairs(list) do
        table.insert(seen.lenses, { line = l.range.start.line, title = l.command and l.command.title })
      end
    end
    table.insert(result.cases, seen)
  end
end)
if not ok then
  result.error = tostring(err)
end
finish()
