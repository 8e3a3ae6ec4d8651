-- Move a reserved job whose payload can't be decoded to the dead letters. ARGV[4] its id in
-- the store, ARGV[5] the id of its dead letter, ARGV[6] the letter, ARGV[7] dead-letter limit.
forget({ARGV[4]})
bury(ARGV[5], ARGV[6], tonumber(ARGV[7]))
return 1
