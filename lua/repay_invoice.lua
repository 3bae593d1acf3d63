-- repay_invoice: the invoice's buyer pays any amount up to what is outstanding (all of it by default),
-- while funded, overdue or defaulted (a late payment is a recovery). The payment is split over the
-- holders pro rata to what remains of their claims, by cumulative rounding (DESIGN 9.5): the shares sum
-- to the payment exactly, and paying all that is outstanding gives each holder exactly the rest of their
-- claim. Paid in full, the invoice is repaid (recovered, when it had defaulted) and its investments
-- settled (recovered).
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
-- Derived keys (from the invoice): its holdings list and each holding's investment hash; each holder's
-- wallet, ledger entries, event stream, stats, daily series and exposure; seller's wallet, event stream
-- and stats.
-- Returns: ok {invoice, investment, wallet} | unauthorized | idempotency_key_reused | invoice_not_found | forbidden |
--   invoice_not_repayable | amount_out_of_range | insufficient_funds | balance_limit_exceeded
-- Events: walletUpdated (buyer, each holder paid), invoiceRepaid (each holder with their share, seller and buyer
--   with the payment), invoiceUpdated (market)

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
  if invoice.status == 'listed' or party_to(invoice, buyer_id) then
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
-- each holder's share: pro rata to what remains of their claims, by cumulative rounding in participation
-- order (one holder, a whole invoice's, is owed everything outstanding)
local holdings = holdings_of(invoice)
local remains = {}
for i, holding in ipairs(holdings) do remains[i] = tonumber(holding.claim) - tonumber(holding.received) end
local owed = 0
for _, remain in ipairs(remains) do owed = owed + remain end
if owed ~= outstanding then  -- a broken invariant is a bug to look at, never a payment to guess at
  return redis.error_reply('repay_invoice: holders are owed ' .. int(owed) .. ', the invoice ' .. int(outstanding))
end
local shares = split(remains, paying)
-- one payment per investor (in the order of their first claim), the sum of their claims' shares
local legs, leg_of = {}, {}
for i, holding in ipairs(holdings) do
  local leg = leg_of[holding.investorId]
  if not leg then
    leg = {account(holding.investorId), 0}
    legs[#legs + 1], leg_of[holding.investorId] = leg, leg
  end
  leg[2] = leg[2] + shares[i]
end
local buyer = account(buyer_id, buyer_wallet_key, buyer_entries_key, buyer_stream_key)
refused = payout_refused(buyer, legs)
if refused then return refused end

local what = 'Invoice ' .. invoice.invoiceNumber
local late = status == 'defaulted'  -- a recovery: the default took it out of the outstanding figures
local buyer_balance = balance_of(buyer)
for _, leg in ipairs(legs) do
  local investor, share = leg[1], leg[2]
  leg[3] = balance_of(investor)
  if share > 0 then
    buyer_balance, leg[3] = transfer(buyer, investor, share, 'repayment', 'Repaid ' .. what, what .. ' repaid',
      invoice.id, now_iso, user_stream_maxlen)
  end
  add_exposure(investor.id, buyer_id, -share)
  if late then
    bump(KEY.stats(investor.id), 'recoveredAmount', share)
  else
    bump(KEY.stats(investor.id), 'realizedReturn', share)
    bump_daily(investor.id, today, 'returned', share)
  end
end
received, outstanding = received + paying, outstanding - paying
for i, holding in ipairs(holdings) do
  if shares[i] > 0 then  -- set, not added: a holding written before `received` was kept catches up
    redis.call('HSET', KEY.investment(holding.id), 'received', int(tonumber(holding.received) + shares[i]))
  end
end
invoice.received = int(received)
redis.call('HSET', invoice_key, 'received', invoice.received)
if late then
  bump(buyer_stats_key, 'recoveredAmount', paying)
else
  bump(buyer_stats_key, 'repaidAmount', paying)
  bump_daily(buyer_id, today, 'repaid', paying)
end

if outstanding == 0 then
  local closed, settled = 'repaid', 'settled'
  if late then closed, settled = 'recovered', 'recovered' end
  invoice.status, invoice.repaidAt = closed, now_iso
  redis.call('HSET', invoice_key, 'status', closed, 'repaidAt', now_iso)
  redis.call('ZREM', funded_by_due_key, invoice.id)
  redis.call('ZREM', overdue_by_due_key, invoice.id)
  for _, holding in ipairs(holdings) do
    redis.call('HSET', KEY.investment(holding.id), 'status', settled, 'settledAt', now_iso)
    local investor_stats = KEY.stats(holding.investorId)
    if late then
      bump(investor_stats, 'recoveredCount', 1)
    else
      bump(investor_stats, 'settledCount', 1)
      bump(investor_stats, 'realizedProfit', tonumber(holding.profit))
      bump(investor_stats, 'settledAmount', tonumber(holding.amount))
    end
  end
  if not late then
    bump(KEY.stats(invoice.sellerId), 'repaidCount', 1)
    bump(buyer_stats_key, 'repaidCount', 1)
  end
end

local function repaid(share, balance)
  return obj({'invoiceId', S(invoice.id), 'invoiceNumber', S(invoice.invoiceNumber), 'amount', int(share),
    'outstanding', int(outstanding), 'newBalance', int(balance)})
end
for _, leg in ipairs(legs) do
  emit(leg[1].stream, user_stream_maxlen, 'invoiceRepaid', repaid(leg[2], leg[3]))
end
local seller = account(invoice.sellerId)
emit(seller.stream, user_stream_maxlen, 'invoiceRepaid', repaid(paying, balance_of(seller)))
emit(buyer.stream, user_stream_maxlen, 'invoiceRepaid', repaid(paying, buyer_balance))
invoice_updated(invoice, market_stream_key, market_stream_maxlen)

-- a whole invoice answers with its one investment; a fractional one has many (null here)
local investment_out = NULL
if not fractional(invoice) then investment_out = investment_json(hgetall(KEY.investment(invoice.investmentId))) end
local result = obj({'invoice', invoice_json(invoice), 'investment', investment_out,
  'wallet', wallet_json(buyer_balance)})
idempotent_store(idempotency_key, body_hash, result, idempotency_ttl)
return ok(result)
