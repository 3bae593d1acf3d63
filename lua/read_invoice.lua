-- read_invoice: one invoice, shaped for the API, with who may see it. Read-only.
--
-- KEYS[1] invoice_key: invoice hash
-- ARGV[1] caller_id: the caller's user id
-- Derived keys: the caller's invoices list (is the caller a holder of a claim).
-- Returns: ok {invoice} | invoice_not_found (unknown, or not listed and the caller is no party)
-- Events: none

local invoice_key = KEYS[1]
local caller_id = ARGV[1]

local invoice = hgetall(invoice_key)
if not invoice.id then return refuse('invoice_not_found', 'no such invoice') end
if invoice.status ~= 'listed' and not party_to(invoice, caller_id) then
  return refuse('invoice_not_found', 'no such invoice')
end
return ok(obj({'invoice', invoice_json(invoice)}))
