-- read_invoice: one invoice, shaped for the API, with who may see it. Read-only.
--
-- KEYS[1] invoice_key: invoice hash
-- ARGV[1] caller_id: the caller's user id
-- Returns: ok {invoice} | invoice_not_found (unknown, or not listed and the caller is no party)
-- Events: none

local invoice_key = KEYS[1]
local caller_id = ARGV[1]

local invoice = hgetall(invoice_key)
if not invoice.id then return refuse('invoice_not_found', 'no such invoice') end
local party = caller_id == invoice.sellerId or caller_id == invoice.buyerId or caller_id == invoice.investorId
if invoice.status ~= 'listed' and not party then
  return refuse('invoice_not_found', 'no such invoice')
end
return ok(obj({'invoice', invoice_json(invoice)}))
