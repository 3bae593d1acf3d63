-- deposit_funds: money arrives from the (simulated) bank: external account -> user's wallet.
--
-- KEYS[1] user_wallet_key: user's wallet hash
-- KEYS[2] user_entries_key: user's ledger entries stream
-- KEYS[3] user_stream_key: user's event stream
-- KEYS[4] external_wallet_key: external account's wallet hash
-- KEYS[5] external_entries_key: external account's ledger entries stream
-- KEYS[6] ledger_totals_key: ledger totals hash (deposits, withdrawals)
-- KEYS[7] idempotency_key: idempotency hash for this request
-- KEYS[8] session_key: the caller's session: their token's hash, or their user hash (operator commands)
-- ARGV[1] user_id: user id
-- ARGV[2] amount: amount, paise (1 .. 10^15)
-- ARGV[3] now_iso: now, ISO 8601 UTC
-- ARGV[4] body_hash: request body hash ('' when no Idempotency-Key)
-- ARGV[5] idempotency_ttl: idempotency TTL, seconds
-- ARGV[6] user_stream_maxlen: user stream length max
-- Returns: ok {wallet, transaction} | unauthorized | idempotency_key_reused | balance_limit_exceeded
-- Events: walletUpdated (user)

local user_wallet_key = KEYS[1]
local user_entries_key = KEYS[2]
local user_stream_key = KEYS[3]
local external_wallet_key = KEYS[4]
local external_entries_key = KEYS[5]
local ledger_totals_key = KEYS[6]
local idempotency_key = KEYS[7]
local session_key = KEYS[8]
local user_id = ARGV[1]
local amount = tonumber(ARGV[2])
local now_iso = ARGV[3]
local body_hash = ARGV[4]
local idempotency_ttl = ARGV[5]
local user_stream_maxlen = ARGV[6]

local refused = caller_refused(session_key, user_id)
if refused then return refused end
local replay = idempotent_replay(idempotency_key, body_hash)
if replay then return replay end

local user = account(user_id, user_wallet_key, user_entries_key, user_stream_key)
local external = account(ACCOUNT.external, external_wallet_key, external_entries_key, nil)
refused = transfer_refused(external, user, amount)
if refused then return refused end

local _, balance, _, transaction = transfer(external, user, amount, 'deposit', 'Deposit from bank',
  'Deposit from bank', '', now_iso, user_stream_maxlen)
redis.call('HINCRBY', ledger_totals_key, 'deposits', amount)

local result = obj({'wallet', wallet_json(balance), 'transaction', transaction})
idempotent_store(idempotency_key, body_hash, result, idempotency_ttl)
return ok(result)
