# Messages of the app, partner cabinet, admin and webhook APIs (JSON errors and results).

api-api-key = The park's app key is required (header X-Api-Key).
api-unknown-park = No such park.
api-sms-sent = The code was sent by SMS.
api-sms-failed = The SMS could not be sent. Please try again a little later.
api-registered = You are registered.
api-already-registered = This phone is already registered with the park. Your referral code: { $code }.
api-phone-invalid = This does not look like a phone number. Please check it.
api-rate-limited = Too many attempts. Try again in { $seconds } s.
api-sms-wrong = Wrong SMS code. Attempts left: { $left }.
api-sms-expired = The SMS code expired or was never requested. Request a new code.
api-code-unknown = There is no such referral code. Check it or register without one.
api-code-inactive = This referral code no longer works. Register without a code or ask for a new one.
api-code-own = This is your own referral code; you cannot register with it.
api-code-other-park = This promo code does not work in this app. To register, go to the bot @{ $bot }
api-code-other-park-nobot = This promo code does not work in this app. It works at the park "{ $park }".
api-code-cooldown = Too many wrong codes. Try again in { $minutes } min.
api-try-later = The service is busy. Please try again.
api-unauthorized = A valid token is required (header Authorization: Bearer …).
api-unsupported-media-type = Send a CSV file (Content-Type: text/csv) or JSON rows (Content-Type: application/json).
api-token-expired = Your sign-in has expired. Please sign in again.
api-not-partner = This phone is not registered as a partner.
api-not-found = Not found.
# A referred driver whose personal data was erased on request (name and phone).
referral-erased = erased
api-refused = { $reason }
api-cursor-invalid = Invalid page cursor.
api-dates-invalid = Invalid period: "from" must not be after "to", at most 366 days.
api-forbidden = Access denied.
api-signed-out = You are signed out.
api-invalid-json = The request body is not a JSON object.
