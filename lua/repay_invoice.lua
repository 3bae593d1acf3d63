-- repay_invoice: the invoice's buyer pays any amount up to what is outstanding (all of it by default),
-- which goes to the investor; while funded, overdue or defaulted (a late payment is a recovery). Paid
-- in full, the invoice is repaid (recovered, when it had defaulted) and its investment settled
-- (recovered).
--
-- KEYS[1] invoice_key: invoice hash
-- KEYS[2] buyer_wallet_key: buyer's wallet hash
-- KEYS[3] buyer_entries_key: buyer's ledger entries stream
-- KEYS[4] buyer_stream_key: buyer's event stream
-- KEYS[5] buyer_stats_key: buyer's stats hash
-- KEYS[6] funded_by_due_key: funded invoices by due time
-- KEYS[7] overdue_by_due_key: overdue invoices by due time
-- KEYS[8] market_stream_key: market event stream
-- KEYS[9] idempotency_key: idempotency hash for this request
-- KEYS[10] session_key: the caller's session: their token's hash, or their user hash (operator commands)
-- ARGV[1] buyer_id: buyer id (the caller)
-- ARGV[2] now_iso: now, ISO 8601 UTC
-- ARGV[3] today: today, YYYY-MM-DD (daily series)
-- ARGV[4] body_hash: request body hash ('' when no Idempotency-Key)
-- ARGV[5] idempotency_ttl: idempotency TTL, seconds
-- ARGV[6] user_stream_maxlen: user stream length max
-- ARGV[7] market_stream_maxlen: market stream length max
-- ARGV[8] amount: paise to pay ('' for all that is outstanding)
-- Derived keys (from the invoice): investor's wallet, ledger entries, event stream, stats, daily
-- series; the investment's hash; seller's wallet, event stream and stats; the investor's exposure.
-- Returns: ok {invoice, investment, wallet} | unauthorized | idempotency_key_reused | invoice_not_found | forbidden |
--   invoice_not_repayable | amount_out_of_range | insufficient_funds | balance_limit_exceeded
-- Events: walletUpdated (buyer, investor), invoiceRepaid (investor, seller, buyer), invoiceUpdated (market)

local invoice_key = KEYS[1]
local buyer_wallet_key = KEYS[2]
local buyer_entries_key = KEYS[3]
local buyer_stream_key = KEYS[4]
local buyer_stats_key = KEYS[5]
local funded_by_due_key = KEYS[6]
local overdue_by_due_key = KEYS[7]
local market_stream_key = KEYS[8]
local idempotency_key = KEYS[9]
local session_key = KEYS[10]
local buyer_id = ARGV[1]
local now_iso = ARGV[2]
local today = ARGV[3]
local body_hash = ARGV[4]
local idempotency_ttl = ARGV[5]
local user_stream_maxlen = ARGV[6]
local market_stream_maxlen = ARGV[7]
local amount = ARGV[8]

local refused = caller_refused(session_key, buyer_id)
if refused then return refused end
local replay = idempotent_replay(idempotency_key, body_hash)
if replay then return replay end

local invoice = hgetall(invoice_key)
if not invoice.id then return refuse('invoice_not_found', 'no such invoice') end
if invoice.buyerId ~= buyer_id then
  -- a listed invoice is public, so say why; any other is invisible to non-parties
  if invoice.status == 'listed' or invoice.sellerId == buyer_id or invoice.investorId == buyer_id then
    return refuse('forbidden', 'only the invoice\'s buyer may repay it')
  end
  return refuse('invoice_not_found', 'no such invoice')
end
local status = invoice.status
if status ~= 'funded' and status ~= 'overdue' and status ~= 'defaulted' then
  return refuse('invoice_not_repayable', 'the invoice is ' .. status .. '; only funded, overdue or defaulted invoices are repaid')
end
local face = tonumber(invoice.amount)
local received = tonumber(invoice.received or '0')
local outstanding = face - received
local paying = outstanding
if amount ~= '' then paying = tonumber(amount) end
if paying > outstanding then
  return refuse('amount_out_of_range', 'amount must be at most the outstanding ' .. string.format('%d', outstanding))
end
local buyer = account(buyer_id, buyer_wallet_key, buyer_entries_key, buyer_stream_key)
local investor = account(invoice.investorId)
refused = transfer_refused(buyer, investor, paying)
if refused then return refused end

local what = 'Invoice ' .. invoice.invoiceNumber
local buyer_balance, investor_balance = transfer(buyer, investor, paying, 'repayment', 'Repaid ' .. what,
  what .. ' repaid', invoice.id, now_iso, user_stream_maxlen)
received, outstanding = received + paying, outstanding - paying
invoice.received = int(received)
redis.call('HSET', invoice_key, 'received', invoice.received)
add_exposure(invoice.investorId, buyer_id, -paying)

local investor_stats = KEY.stats(invoice.investorId)
local late = status == 'defaulted'
if late then  -- a recovery: the default already took the invoice out of the buyer's outstanding figures
  bump(investor_stats, 'recoveredAmount', paying)
  bump(buyer_stats_key, 'recoveredAmount', paying)
else
  bump(investor_stats, 'realizedReturn', paying)
  bump(buyer_stats_key, 'repaidAmount', paying)
  bump_daily(buyer_id, today, 'repaid', paying)
  bump_daily(invoice.investorId, today, 'returned', paying)
end

local investment_key = KEY.investment(invoice.investmentId)
if outstanding == 0 then
  local closed, settled = 'repaid', 'settled'
  if late then closed, settled = 'recovered', 'recovered' end
  invoice.status, invoice.repaidAt = closed, now_iso
  redis.call('HSET', invoice_key, 'status', closed, 'repaidAt', now_iso)
  redis.call('ZREM', funded_by_due_key, invoice.id)
  redis.call('ZREM', overdue_by_due_key, invoice.id)
  redis.call('HSET', investment_key, 'status', settled, 'settledAt', now_iso)
  if late then
    bump(investor_stats, 'recoveredCount', 1)
  else
    bump(investor_stats, 'settledCount', 1)
    bump(investor_stats, 'realizedProfit', tonumber(invoice.profit))
    bump(investor_stats, 'settledAmount', tonumber(invoice.fundedAmount))
    bump(KEY.stats(invoice.sellerId), 'repaidCount', 1)
    bump(buyer_stats_key, 'repaidCount', 1)
  end
end
local investment = hgetall(investment_key)

local seller = account(invoice.sellerId)
local function repaid(balance)
  return obj({'invoiceId', S(invoice.id), 'invoiceNumber', S(invoice.invoiceNumber), 'amount', int(paying),
    'outstanding', int(outstanding), 'newBalance', int(balance)})
end
emit(investor.stream, user_stream_maxlen, 'invoiceRepaid', repaid(investor_balance))
emit(seller.stream, user_stream_maxlen, 'invoiceRepaid', repaid(balance_of(seller)))
emit(buyer.stream, user_stream_maxlen, 'invoiceRepaid', repaid(buyer_balance))
emit(market_stream_key, market_stream_maxlen, 'invoiceUpdated', obj({
  'id', S(invoice.id), 'invoiceNumber', S(invoice.invoiceNumber), 'status', S(invoice.status)}))

local result = obj({'invoice', invoice_json(invoice), 'investment', investment_json(investment),
  'wallet', wallet_json(buyer_balance)})
idempotent_store(idempotency_key, body_hash, result, idempotency_ttl)
return ok(result)
