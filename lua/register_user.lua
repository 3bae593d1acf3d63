-- register_user: creates a user and an empty wallet; the email is unique in the market.
--
-- KEYS[1] users_by_email_key: users-by-email hash (email -> user id)
-- KEYS[2] user_key: the new user's hash
-- KEYS[3] wallet_key: the new user's wallet hash
-- KEYS[4] wallets_key: set of all wallet ids (for the ledger check)
-- KEYS[5] buyers_key: the buyer directory (sorted set, all scores 0, read by prefix with ZRANGEBYLEX)
-- ARGV[1] user_id: user id
-- ARGV[2] email: email, lower-cased
-- ARGV[3] name: name
-- ARGV[4] role: seller | investor | buyer
-- ARGV[5] company: company ('' when none)
-- ARGV[6] display_name: display name (company, else name)
-- ARGV[7] password_hash: password hash (scrypt, encoded)
-- ARGV[8] now_iso: now, ISO 8601 UTC (the user's createdAt)
-- ARGV[9] directory_entry: a buyer's entry in the directory (lower-cased display name, NUL, user id); '' for others
-- Returns: ok {} | email_taken
-- Events: none

local users_by_email_key = KEYS[1]
local user_key = KEYS[2]
local wallet_key = KEYS[3]
local wallets_key = KEYS[4]
local buyers_key = KEYS[5]
local user_id = ARGV[1]
local email = ARGV[2]
local name = ARGV[3]
local role = ARGV[4]
local company = ARGV[5]
local display_name = ARGV[6]
local password_hash = ARGV[7]
local now_iso = ARGV[8]
local directory_entry = ARGV[9]

if redis.call('HEXISTS', users_by_email_key, email) == 1 then
  return refuse('email_taken', 'an account with this email already exists')
end

redis.call('HSET', users_by_email_key, email, user_id)
redis.call('HSET', user_key, 'id', user_id, 'email', email, 'name', name, 'role', role,
  'company', company, 'displayName', display_name, 'passwordHash', password_hash, 'createdAt', now_iso)
redis.call('HSET', wallet_key, 'balance', 0, 'currency', 'INR')
redis.call('SADD', wallets_key, user_id)
if directory_entry ~= '' then
  redis.call('ZADD', buyers_key, 0, directory_entry)
end
return ok('{}')
