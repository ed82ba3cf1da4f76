#!/bin/sh
# The example application of the compose stack: writes annotated
# transactions to MySQL a few times a second, so that the tailer publishes
# keys, the router deletes them and the dashboard moves. Each transaction
# names the cache keys of the rows it changes in a /* mcsqueal: ... */
# comment (README, "Annotating writes"); --comments keeps the comment, which
# the mysql client would otherwise strip.
set -eu
: "${MYSQL_HOST:=mysql}" "${APP_INTERVAL:=0.5}"
client=$(mktemp) # the password in an option file, not on the command line
printf '[client]\nhost=%s\nuser=app\npassword=%s\n' "$MYSQL_HOST" "$APP_PASSWORD" >"$client"
n=0
while :; do
  id=$((n % 5 + 1))
  other=$(((n + 2) % 5 + 1))
  mysql --defaults-extra-file="$client" --comments shop <<SQL
START TRANSACTION;
UPDATE users SET visits = visits + 1 WHERE id = $id /* mcsqueal: user:$id profile:$id */;
UPDATE users SET visits = visits + 1 WHERE id = $other /* mcsqueal: user:$other */;
COMMIT;
SQL
  n=$((n + 1))
  [ $((n % 100)) -eq 0 ] && echo "app: $n transactions written"
  sleep "$APP_INTERVAL"
done
