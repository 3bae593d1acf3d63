-- prelude: shared helpers, rendered in front of every script by finance/scripts.py (after the
-- generated KEY.<name>(id) functions of finance/keys.py). Not a script of its own.
--
-- Why a JSON writer of our own: cjson writes numbers with 14 significant digits, so 10^15 paise
-- would come out as 1e+15. Integers here go through string.format('%d'), exact up to 2^53.
-- Replies: every script returns {code, json}; code 'ok' or a named refusal (finance/outcomes.py).

local NULL = 'null'

local function S(v)
  if v == nil or v == false then return NULL end
  return cjson.encode(v)
end

local function N(v)
  if v == nil or v == false or v == '' then return NULL end
  return string.format('%d', tonumber(v))
end

-- obj({'k1', json1, 'k2', json2, ...}) -> '{"k1":json1,"k2":json2}'. Keys are our own identifiers
-- (no escaping needed); values are already JSON.
local function obj(pairs_list)
  local parts, n = {}, 0
  for i = 1, #pairs_list, 2 do
    n = n + 1
    parts[n] = '"' .. pairs_list[i] .. '":' .. pairs_list[i + 1]
  end
  return '{' .. table.concat(parts, ',') .. '}'
end

local function arr(items)
  return '[' .. table.concat(items, ',') .. ']'
end

local function int(v)
  return string.format('%d', v)
end

local function hgetall(key)
  local flat = redis.call('HGETALL', key)
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end

local function refuse(code, message)
  return {code, obj({'message', S(message)})}
end

-- The caller's session still vouches for them: `session_key` is their token's hash (so a token
-- revoked since the app cached it moves nothing), or their user hash for operator commands.
local function caller_refused(session_key, user_id)
  if redis.call('HGET', session_key, 'id') ~= user_id then
    return refuse('unauthorized', 'the token is unknown, expired or revoked')
  end
  return nil
end

local function ok(json)
  return {'ok', json}
end

-- Records, shaped as the API returns them (DESIGN section 5). The only definition of these shapes.
-- Written out as one concatenation each: they are on every money script's path.
-- What the buyer still owes on a funded invoice (null before funding).
local function outstanding_json(t)
  if not t.investorId or t.investorId == '' then return NULL end
  return string.format('%d', tonumber(t.amount) - tonumber(t.received or '0'))
end

local function invoice_json(t)
  return '{"id":' .. S(t.id) .. ',"invoiceNumber":' .. S(t.invoiceNumber) ..
    ',"sellerId":' .. S(t.sellerId) .. ',"seller":' .. S(t.seller) ..
    ',"buyerId":' .. S(t.buyerId) .. ',"buyer":' .. S(t.buyer) ..
    ',"amount":' .. N(t.amount) .. ',"askAmount":' .. N(t.askAmount) .. ',"currency":' .. S(t.currency) ..
    ',"dueDate":' .. S(t.dueDate) .. ',"status":' .. S(t.status) ..
    ',"description":' .. S(t.description or '') .. ',"createdAt":' .. S(t.createdAt) ..
    ',"investorId":' .. S(t.investorId) .. ',"fundedAmount":' .. N(t.fundedAmount) ..
    ',"expectedReturn":' .. N(t.expectedReturn) .. ',"profit":' .. N(t.profit) ..
    ',"platformFee":' .. N(t.platformFee) .. ',"received":' .. N(t.received) ..
    ',"outstanding":' .. outstanding_json(t) .. ',"acceptBy":' .. S(t.acceptBy) ..
    ',"acceptedAt":' .. S(t.acceptedAt) .. ',"rejectionReason":' .. S(t.rejectionReason) ..
    ',"fundedAt":' .. S(t.fundedAt) .. ',"repaidAt":' .. S(t.repaidAt) .. '}'
end

local function investment_json(t)
  return '{"id":' .. S(t.id) .. ',"invoiceId":' .. S(t.invoiceId) .. ',"investorId":' .. S(t.investorId) ..
    ',"amount":' .. N(t.amount) .. ',"expectedReturn":' .. N(t.expectedReturn) .. ',"profit":' .. N(t.profit) ..
    ',"status":' .. S(t.status) .. ',"createdAt":' .. S(t.createdAt) .. '}'
end

local function bid_json(t)
  return '{"id":' .. S(t.id) .. ',"invoiceId":' .. S(t.invoiceId) .. ',"investorId":' .. S(t.investorId) ..
    ',"investor":' .. S(t.investor) .. ',"amount":' .. N(t.amount) ..
    ',"discountRateBps":' .. N(t.discountRateBps) .. ',"validUntil":' .. S(t.validUntil) ..
    ',"status":' .. S(t.status) .. ',"createdAt":' .. S(t.createdAt) .. ',"updatedAt":' .. S(t.updatedAt) .. '}'
end

local function wallet_json(balance)
  return '{"balance":' .. N(balance) .. ',"currency":"INR"}'
end

local function transaction_json(entry_id, t)
  local invoice_id = t.invoiceId
  if invoice_id == '' then invoice_id = nil end
  return '{"id":' .. S(entry_id) .. ',"type":' .. S(t.type) .. ',"amount":' .. N(t.amount) ..
    ',"balanceAfter":' .. N(t.balanceAfter) .. ',"description":' .. S(t.description) ..
    ',"invoiceId":' .. S(invoice_id) .. ',"createdAt":' .. S(t.createdAt) .. '}'
end

-- Streams: entries carry `event` and `data` (JSON), readable with XRANGE in redis-cli.
local function emit(stream_key, maxlen, event, data_json)
  return redis.call('XADD', stream_key, 'MAXLEN', '~', maxlen, '*', 'event', event, 'data', data_json)
end

-- Idempotency: a hash {bodyHash, result} kept for the TTL. body_hash '' means no Idempotency-Key.
-- Returns nil (go on), or a reply to return as it is (the stored result, or the reuse refusal).
local function idempotent_replay(key, body_hash)
  if body_hash == '' then return nil end
  local stored = redis.call('HMGET', key, 'bodyHash', 'result')
  if not stored[1] then return nil end
  if stored[1] ~= body_hash then
    return refuse('idempotency_key_reused', 'this Idempotency-Key was used with a different body')
  end
  return {'ok', stored[2], 'replayed'}
end

local function idempotent_store(key, body_hash, result_json, ttl_seconds)
  if body_hash == '' then return end
  redis.call('HSET', key, 'bodyHash', body_hash, 'result', result_json)
  redis.call('EXPIRE', key, ttl_seconds)
end

-- An account's keys: given where the caller passed them in KEYS, derived from the id otherwise.
local function account(id, wallet_key, entries_key, stream_key)
  return {id = id, wallet = wallet_key or KEY.wallet(id), entries = entries_key or KEY.wallet_entries(id),
          stream = stream_key or KEY.user_stream(id)}
end

-- A system account: an invoice's escrow (money held for it) or the platform's fees. A ledger account
-- with a balance and entries like a wallet, but no event stream; the first entry lists it in
-- KEY.system_accounts() for the ledger check.
local function system_account(id)
  return {id = id, wallet = KEY.wallet(id), entries = KEY.wallet_entries(id), system = true}
end

local function escrow_of(invoice_id)
  return system_account(ACCOUNT.escrow(invoice_id))
end

-- Moves `amount` into (type 'credit') or out of (type 'debit') one account: balance, ledger entry
-- (the entry's stream id is the transaction id) and, for users, walletUpdated on their stream.
-- The caller has checked the balance. Returns balance_after and the transaction JSON.
local function post_entry(acct, entry_type, amount, kind, description, invoice_id, counterparty,
                          now_iso, user_stream_maxlen)
  local delta = amount
  if entry_type == 'debit' then delta = -amount end
  local balance_after = redis.call('HINCRBY', acct.wallet, 'balance', delta)
  local entry = {type = entry_type, amount = int(amount), balanceAfter = int(balance_after),
                 description = description, invoiceId = invoice_id or '', createdAt = now_iso}
  local entry_id = redis.call('XADD', acct.entries, '*',
    'type', entry.type, 'amount', entry.amount, 'balanceAfter', entry.balanceAfter, 'kind', kind,
    'description', description, 'invoiceId', entry.invoiceId, 'counterparty', counterparty,
    'createdAt', now_iso)
  local transaction = transaction_json(entry_id, entry)
  if acct.system then
    redis.call('SADD', KEY.system_accounts(), acct.id)
  elseif acct.id ~= ACCOUNT.external then
    emit(acct.stream, user_stream_maxlen, 'walletUpdated',
         obj({'balance', int(balance_after), 'transaction', transaction}))
  end
  return balance_after, transaction
end

local function balance_of(acct)
  return tonumber(redis.call('HGET', acct.wallet, 'balance') or '0')
end


local BALANCE_MAX = 1000000000000000

-- The checks of a movement from payer to payee, before anything is written: a refusal, or nil.
-- The external account (the bank's side) has neither a floor nor a ceiling.
local function transfer_refused(payer, payee, amount)
  if payer.id ~= ACCOUNT.external and balance_of(payer) < amount then
    return refuse('insufficient_funds', 'the wallet balance is lower than the amount')
  end
  if payee.id ~= ACCOUNT.external and balance_of(payee) + amount > BALANCE_MAX then
    return refuse('balance_limit_exceeded', 'a balance may not exceed 10^15 paise')
  end
  return nil
end

-- The checks of one payer paying several payees ({account, amount} pairs, amounts >= 0) at once:
-- the payer's balance (or `available`, when money comes back to it first) against the total first,
-- then each payee's ceiling.
local function payout_refused(payer, payees, available)
  local total = 0
  for _, leg in ipairs(payees) do total = total + leg[2] end
  if payer.id ~= ACCOUNT.external and (available or balance_of(payer)) < total then
    return refuse('insufficient_funds', 'the wallet balance is lower than the amount')
  end
  for _, leg in ipairs(payees) do
    if leg[2] > 0 and leg[1].id ~= ACCOUNT.external and balance_of(leg[1]) + leg[2] > BALANCE_MAX then
      return refuse('balance_limit_exceeded', 'a balance may not exceed 10^15 paise')
    end
  end
  return nil
end

-- floor(price * bps / 10000), exact: price <= 10^15 and bps <= 10000, but their product is not exact
-- in a double. With price = high * 10^8 + low, every partial product stays below 2^53.
local function fee_of(price, bps)
  local low = price % 100000000
  local high = (price - low) / 100000000
  local partial = low * bps
  return high * bps * 10000 + (partial - partial % 10000) / 10000
end

-- Both legs of one movement, always together: the payer's debit and the payee's credit, each naming
-- the other as counterparty. Returns the payer's and the payee's balance after, and their
-- transactions' JSON.
local function transfer(payer, payee, amount, kind, payer_text, payee_text, invoice_id, now_iso,
                        user_stream_maxlen)
  local payer_balance, payer_transaction = post_entry(payer, 'debit', amount, kind, payer_text, invoice_id,
    payee.id, now_iso, user_stream_maxlen)
  local payee_balance, payee_transaction = post_entry(payee, 'credit', amount, kind, payee_text, invoice_id,
    payer.id, now_iso, user_stream_maxlen)
  return payer_balance, payee_balance, payer_transaction, payee_transaction
end

-- The checks of an investor buying (`/fund`) or bidding for a listed invoice at `price`, in the order
-- of precedence: a refusal, or nil.
local function purchase_refused(invoice, investor_id, price, now_ms)
  if not invoice.id then return refuse('invoice_not_found', 'no such invoice') end
  if invoice.sellerId == investor_id then
    return refuse('own_invoice', 'a seller cannot fund or bid for their own invoice')
  end
  if invoice.status ~= 'listed' then
    return refuse('invoice_not_listed', 'the invoice is ' .. invoice.status .. ', not listed')
  end
  if tonumber(invoice.dueAt) <= tonumber(now_ms) then
    return refuse('invoice_past_due', 'the invoice is past its due date')
  end
  if price < tonumber(invoice.askAmount) or price > tonumber(invoice.amount) then
    return refuse('amount_out_of_range', 'amount must be between askAmount and amount, inclusive')
  end
  return nil
end

-- The checks of a buyer's answer (accept or reject) to an invoice awaiting its acceptance: a
-- refusal, or nil. The routes let buyers only, so another buyer is no party: the invoice does not
-- exist for them.
local function answer_refused(invoice, buyer_id, now_ms)
  if not invoice.id or invoice.buyerId ~= buyer_id then return refuse('invoice_not_found', 'no such invoice') end
  if invoice.status ~= 'pending_acceptance' then
    return refuse('invoice_not_pending_acceptance', 'the invoice is ' .. invoice.status .. ', not pending acceptance')
  end
  if tonumber(invoice.acceptByMs) <= tonumber(now_ms) then
    return refuse('acceptance_window_closed', 'the time to answer for this invoice has passed')
  end
  return nil
end

-- Puts an invoice on the market (status listed): the three listed indexes, and newInvoiceListed.
local function list_on_market(invoice, listed_keys, listed_ms, market_stream_key, maxlen, now_iso)
  redis.call('ZADD', listed_keys[1], listed_ms, invoice.id)
  redis.call('ZADD', listed_keys[2], invoice.amount, invoice.id)
  redis.call('ZADD', listed_keys[3], invoice.dueAt, invoice.id)
  emit(market_stream_key, maxlen, 'newInvoiceListed', obj({
    'id', S(invoice.id), 'invoiceNumber', S(invoice.invoiceNumber), 'amount', N(invoice.amount),
    'askAmount', N(invoice.askAmount), 'seller', S(invoice.seller), 'buyer', S(invoice.buyer),
    'dueDate', S(invoice.dueDate), 'timestamp', S(now_iso)}))
end

local function bump(stats_key, field, by)
  redis.call('HINCRBY', stats_key, field, by)
end

-- An invoice that never reached the market closes (rejected by its buyer, or not accepted in time):
-- its number is free again, and the seller's and buyer's figures count it as cancelled.
local function close_unlisted(invoice)
  redis.call('HDEL', KEY.invoice_numbers(invoice.sellerId), invoice.invoiceNumber)
  local amount = tonumber(invoice.amount)
  bump(KEY.stats(invoice.sellerId), 'cancelledCount', 1)
  bump(KEY.stats(invoice.sellerId), 'cancelledAmount', amount)
  bump(KEY.stats(invoice.buyerId), 'cancelledCount', 1)
  bump(KEY.stats(invoice.buyerId), 'cancelledAmount', amount)
end

local function bump_daily(user_id, day, metric, by)
  redis.call('HINCRBY', KEY.daily(user_id), day .. ':' .. metric, by)
end

-- An invoice just funded at `f.price` by one investor, the money already moved (the seller got the
-- price minus `f.fee`): the invoice and its indexes, the investment, the stats and the funding events.
-- `k` holds the keys the caller knows. Returns the investment.
local function record_funding(invoice, k, f)
  local face = tonumber(invoice.amount)
  local profit = face - f.price
  invoice.status, invoice.investorId, invoice.investmentId = 'funded', f.investor_id, f.investment_id
  invoice.fundedAmount, invoice.expectedReturn, invoice.profit = int(f.price), int(face), int(profit)
  invoice.fundedAt, invoice.platformFee, invoice.received = f.now_iso, int(f.fee), '0'
  redis.call('HSET', k.invoice, 'status', 'funded', 'investorId', f.investor_id, 'investor', f.investor_name,
    'investmentId', f.investment_id, 'fundedAmount', invoice.fundedAmount,
    'expectedReturn', invoice.expectedReturn, 'profit', invoice.profit, 'fundedAt', f.now_iso,
    'platformFee', invoice.platformFee, 'received', '0')
  redis.call('ZREM', k.listed[1], invoice.id)
  redis.call('ZREM', k.listed[2], invoice.id)
  redis.call('ZREM', k.listed[3], invoice.id)
  redis.call('ZADD', k.funded_by_due, invoice.dueAt, invoice.id)

  local investment = {id = f.investment_id, invoiceId = invoice.id, investorId = f.investor_id,
    amount = int(f.price), expectedReturn = int(face), profit = int(profit), status = 'active',
    createdAt = f.now_iso}
  redis.call('HSET', k.investment, 'id', investment.id, 'invoiceId', investment.invoiceId,
    'investorId', f.investor_id, 'amount', investment.amount, 'expectedReturn', investment.expectedReturn,
    'profit', investment.profit, 'status', 'active', 'createdAt', f.now_iso)
  redis.call('ZADD', k.investor_investments, f.now_ms, f.investment_id)
  redis.call('ZADD', k.investor_invoices, f.now_ms, invoice.id)

  local net = f.price - f.fee
  bump(k.investor_stats, 'investmentCount', 1)
  bump(k.investor_stats, 'investedAmount', f.price)
  bump(k.investor_stats, 'expectedReturn', face)
  local seller_stats = KEY.stats(invoice.sellerId)
  bump(seller_stats, 'fundedCount', 1)
  bump(seller_stats, 'raisedAmount', net)
  bump_daily(f.investor_id, f.today, 'invested', f.price)
  bump_daily(invoice.sellerId, f.today, 'raised', net)

  emit(k.seller_stream, f.user_stream_maxlen, 'invoiceFunded', obj({
    'invoiceId', S(invoice.id), 'invoiceNumber', S(invoice.invoiceNumber), 'amount', int(f.price),
    'platformFee', int(f.fee), 'investor', S(f.investor_name), 'newBalance', int(f.seller_balance)}))
  emit(k.investor_stream, f.user_stream_maxlen, 'investmentSuccess', obj({
    'invoiceId', S(invoice.id), 'invoiceNumber', S(invoice.invoiceNumber), 'amount', int(f.price),
    'expectedReturn', int(face), 'profit', int(profit), 'newBalance', int(f.investor_balance)}))
  emit(k.market_stream, f.market_stream_maxlen, 'invoiceUpdated', obj({
    'id', S(invoice.id), 'invoiceNumber', S(invoice.invoiceNumber), 'status', S('funded')}))
  return investment
end

-- Exposure limits (PUT /api/users/limits/{buyerId}): an investor's exposure on a buyer is the face value
-- of every claim they hold on that buyer's invoices and have not been repaid, plus that of every
-- pending bid (a bid is counted as the claim it would become). Refused when `add` would pass the limit.
local function exposure_refused(investor_id, buyer_id, add)
  if add <= 0 then return nil end
  local limit = redis.call('HGET', KEY.limits(investor_id), buyer_id)
  if not limit then return nil end
  local exposure = tonumber(redis.call('HGET', KEY.exposure(investor_id), buyer_id) or '0')
  if exposure + add > tonumber(limit) then
    return refuse('exposure_limit_exceeded', 'this would take your exposure on the buyer to ' ..
      string.format('%d', exposure + add) .. ' paise, above your limit of ' .. limit)
  end
  return nil
end

local function add_exposure(investor_id, buyer_id, delta)
  if delta ~= 0 then redis.call('HINCRBY', KEY.exposure(investor_id), buyer_id, delta) end
end

-- Takes a bid out of its invoice's pending set (status: accepted, rejected, withdrawn, refunded, expired).
-- Its claim leaves the bidder's exposure, unless the bid was accepted (then it is the funded claim).
local function close_bid(invoice, bid, status, now_iso)
  bid.status, bid.updatedAt = status, now_iso
  redis.call('HSET', KEY.bid(bid.id), 'status', status, 'updatedAt', now_iso)
  redis.call('ZREM', KEY.invoice_bids(invoice.id), bid.id)
  redis.call('HDEL', KEY.invoice_bidders(invoice.id), bid.investorId)
  redis.call('ZREM', KEY.bids_by_expiry(), bid.id)
  if status ~= 'accepted' then
    redis.call('HINCRBY', KEY.exposure(bid.investorId), invoice.buyerId, -tonumber(invoice.amount))
  end
end

-- Gives one pending bid's money back to its bidder from the invoice's escrow and closes it, with
-- `event` to the bidder. A refund is never refused: it is the bidder's own money (it may take a
-- wallet past 10^15, which stays exact: every escrowed amount left a wallet below it).
local function refund_bid(invoice, bid, status, event, now_iso, user_stream_maxlen)
  local amount = tonumber(bid.amount)
  local bidder = account(bid.investorId)
  local what = 'Invoice ' .. invoice.invoiceNumber
  local _, balance = transfer(escrow_of(invoice.id), bidder, amount, 'bid_refund', 'Bid returned, ' .. what,
    'Bid returned, ' .. what, invoice.id, now_iso, user_stream_maxlen)
  close_bid(invoice, bid, status, now_iso)
  emit(bidder.stream, user_stream_maxlen, event, obj({'bidId', S(bid.id), 'invoiceId', S(invoice.id),
    'invoiceNumber', S(invoice.invoiceNumber), 'amount', int(amount), 'newBalance', int(balance)}))
end

-- Refunds every pending bid of an invoice but `keep` (a bid id, or nil). Returns how many.
local function refund_bids(invoice, keep, status, event, now_iso, user_stream_maxlen)
  local refunded = 0
  for _, bid_id in ipairs(redis.call('ZRANGE', KEY.invoice_bids(invoice.id), 0, -1)) do
    if bid_id ~= keep then
      refund_bid(invoice, hgetall(KEY.bid(bid_id)), status, event, now_iso, user_stream_maxlen)
      refunded = refunded + 1
    end
  end
  return refunded
end

