-- cancel_invoice: the seller withdraws a listed invoice. Its invoice number may be listed again; every
-- pending bid, and every claim bought of a fractional invoice, goes back to its investor in the same step.
--
-- KEYS[1] invoice_key: invoice hash
-- KEYS[2] listed_by_created_key: listed invoices by created time
-- KEYS[3] listed_by_amount_key: listed invoices by amount
-- KEYS[4] listed_by_due_key: listed invoices by due time
-- KEYS[5] market_stream_key: market event stream
-- KEYS[6] idempotency_key: idempotency hash for this request
-- KEYS[7] session_key: the caller's session: their token's hash, or their user hash (operator commands)
-- ARGV[1] seller_id: seller id (the caller)
-- ARGV[2] now_iso: now, ISO 8601 UTC
-- ARGV[3] body_hash: request body hash ('' when no Idempotency-Key)
-- ARGV[4] idempotency_ttl: idempotency TTL, seconds
-- ARGV[5] market_stream_maxlen: market stream length max
-- ARGV[6] user_stream_maxlen: user stream length max
-- Derived keys: the seller's invoice-number hash, seller's and buyer's stats hashes; the invoice's escrow,
-- pending bids and bidders, each bid's hash and bidder's wallet and event stream, the bids-by-expiry set;
-- the invoice's holdings, each claim's investment, its investor's wallet, entries, stream, stats, daily
-- series and exposure; the fractional-by-deadline index.
-- Returns: ok {invoice} | unauthorized | idempotency_key_reused | invoice_not_found | forbidden | invoice_not_listed
-- Events: invoiceUpdated (market); bidRejected and walletUpdated to each bidder refunded;
--   investmentRefunded and walletUpdated to each holder of a claim refunded

local invoice_key = KEYS[1]
local listed_by_created_key = KEYS[2]
local listed_by_amount_key = KEYS[3]
local listed_by_due_key = KEYS[4]
local market_stream_key = KEYS[5]
local idempotency_key = KEYS[6]
local session_key = KEYS[7]
local seller_id = ARGV[1]
local now_iso = ARGV[2]
local body_hash = ARGV[3]
local idempotency_ttl = ARGV[4]
local market_stream_maxlen = ARGV[5]
local user_stream_maxlen = ARGV[6]

local refused = caller_refused(session_key, seller_id)
if refused then return refused end
local replay = idempotent_replay(idempotency_key, body_hash)
if replay then return replay end

local invoice = hgetall(invoice_key)
if not invoice.id then return refuse('invoice_not_found', 'no such invoice') end
if invoice.sellerId ~= seller_id then
  -- a listed invoice is public, so say why; any other is invisible to non-parties
  if invoice.status == 'listed' or invoice.buyerId == seller_id or invoice.investorId == seller_id then
    return refuse('forbidden', 'only the seller may cancel an invoice')
  end
  return refuse('invoice_not_found', 'no such invoice')
end
if invoice.status ~= 'listed' then
  return refuse('invoice_not_listed', 'the invoice is ' .. invoice.status .. ', not listed')
end

delist(invoice, 'cancelled', {'cancelledAt', now_iso},
  {listed_by_created_key, listed_by_amount_key, listed_by_due_key}, market_stream_key, now_iso,
  user_stream_maxlen, market_stream_maxlen)

local result = obj({'invoice', invoice_json(invoice)})
idempotent_store(idempotency_key, body_hash, result, idempotency_ttl)
return ok(result)
