-- read_invoice: one invoice, shaped for the API, with who may see it. Read-only.
--
-- KEYS[1] invoice hash
-- ARGV[1] the caller's user id
-- Returns: ok {invoice} | invoice_not_found (unknown, or not listed and the caller is no party)
-- Events: none

local invoice = hgetall(KEYS[1])
if not invoice.id then return refuse('invoice_not_found', 'no such invoice') end
local caller = ARGV[1]
local party = caller == invoice.sellerId or caller == invoice.buyerId or caller == invoice.investorId
if invoice.status ~= 'listed' and not party then
  return refuse('invoice_not_found', 'no such invoice')
end
return ok(obj({'invoice', invoice_json(invoice)}))
