# Texts of the registration bots.

welcome = Hello! This bot registers drivers of the taxi park “{ $park }”.
welcome-with-code = The referral code { $code } will be used for your registration.

phone-ask-contact = To register, confirm your phone number: press the “Share phone number” button below.
phone-ask-typed = To register, enter your mobile number, for example +7 916 123-45-67. We will text you a confirmation code.
phone-use-button = Please send your number with the “Share phone number” button below: that is how Telegram confirms the number is yours.
phone-not-own = This is someone else's contact. Send your own number with the “Share phone number” button below.
phone-invalid = That does not look like a phone number. Enter your mobile number, for example +7 916 123-45-67.

otp-sent = We sent a text message with a code to { $phone }. Enter the 6-digit code.
otp-wrong = Wrong code. Attempts left: { $left }.
otp-expired = The code has expired. Press “Send the code again”.
otp-locked = Too many wrong attempts. Request a new code with “Send the code again”.
otp-resend-wait = You can request a new code in { $seconds } s.
otp-not-digits = Enter the 6-digit code from the text message or press “Change number”.
sms-failed = We could not send the text message. Please try again later.
sms-quota = Too many text messages in the last hour. Please try again later.
sms-text = Your registration code for “{ $park }”: { $code }. Do not share it.

ask-referral-code = Enter your referral code if you have one (press “I have no referral code” if you don't)
code-accepted = Referral code { $code } accepted.
code-other-park = This promo code does not work in this bot. To register, go to the bot @{ $bot }
code-other-park-nobot = This promo code does not work in this bot. It belongs to the taxi park “{ $park }”.
code-own = This is your own referral code, you cannot register with it. Enter the code of the person who invited you, or press “I have no referral code”.
code-unknown = There is no such referral code. Check it and enter it again, or press “I have no referral code”.
code-inactive = This referral code is no longer valid. Enter another code or press “I have no referral code”.
code-junk = That does not look like a referral code: it is latin letters and digits, like a74t. Enter a code or press “I have no referral code”.
code-cooldown = Too many wrong codes. Try again in { $minutes } min or press “I have no referral code”.

registered = Registration complete!
driver-code =
    Your referral code: { $code }
    Registration links for the apps and bots: { $url }
already-registered = This number is already registered with “{ $park }”. Your account is now linked to this chat.
partner-linked = You are a referral partner of “{ $park }”. Alerts about drivers registered with your code will come here.
partner-linked-elsewhere = You are a referral partner of “{ $park }”. Alerts about drivers registered with your code come in Telegram: open the bot @{ $bot }.
partner-other-park-nobot = Your number is registered as a partner of “{ $park }”.
partner-other-park = Your number is registered as a partner of “{ $park }”. Your bot is @{ $bot }.
menu = To get your referral code, press “My referral code” or send /code.
not-registered = You are not registered yet. Let's finish the registration.
stale-button = That button is no longer active.
unsupported = I understand only text and buttons.
private-only = Please write to me in a private chat.
try-later = Something went wrong. Please try again in a minute.
help = This bot registers drivers of “{ $park }” and gives out referral codes. Commands: /start to begin, /code for your referral code.

btn-share-phone = Share phone number
btn-no-code = I have no referral code
btn-my-code = My referral code
btn-my-bonus = My bonuses
my-bonus =
    Balance: { $balance }
    Available to withdraw: { $available }
    Accrued this month: { $month }
    Referrals: { $referrals }
    Latest accruals:
    { $recent }
bonus-entry = { $amount } — order { $order }, level { $level }
bonus-none = none yet
btn-resend-sms = Send the code again
btn-change-phone = Change number
link-open-bot = Open @{ $bot }
link-open-vk = The park's VK community

cmd-start = Start registration
cmd-code = My referral code
cmd-help = Help
phone-foreign = This number cannot be used: registration is open to mobile numbers of the park's country.

settings-current =
    Alerts: { $alerts ->
        [digest] the daily digest only
       *[instant] at once for every new driver
    }. Quiet hours: { $quiet ->
        [none] none
       *[other] { $quiet } (alerts in that time come when it ends)
    }.
settings-saved = Settings saved.
settings-partners-only = Alert settings are for referral partners.
btn-alerts-instant = Every new driver at once
btn-alerts-digest = Daily digest only
btn-quiet-night = Quiet hours 23:00–08:00
btn-quiet-off = No quiet hours
cmd-settings = Alert settings

# SMS limits (core/domain/sms_limits.py): $unit is seconds, minutes or hours, $amount a number.
sms-wait-time = { $unit ->
        [seconds] { $amount } s
        [minutes] { $amount } min
       *[hours] { $amount } h
    }
sms-wait-chat = You can request a new code in { sms-wait-time }.
sms-limit-chat = Sorry, too many codes were requested from this chat. Please try again in { sms-wait-time }.
sms-limit-phone = Sorry, too many codes were already sent to this number. Please try again in { sms-wait-time }.

consent-phone = By sending your number you agree to the processing of personal data: { $url }
mailing-on = Done: you will get the taxi park's news. To unsubscribe, send /stop.
mailing-off = You have unsubscribed from the taxi park's news.
btn-continue = Continue registration

# Payout requests from «My bonuses» (core.services.bonus_bot).
btn-payout = Withdraw bonuses
btn-payout-cancel = Cancel the payout request
payout-requested = Payout request #{ $id } for { $amount } was created. We will tell you when it is processed. While it waits, you can cancel it: /payout_cancel
payout-below-minimum = You cannot withdraw yet: { $available } is available and the minimum payout is { $minimum }.
payout-insufficient = The payout did not go through: only { $available } is available. Please try again.
payout-cancelled = Payout request #{ $id } for { $amount } was cancelled. The amount is available again.
payout-cancel-processing = Request #{ $id } for { $amount } is already being processed and can no longer be cancelled.
payout-none-pending = You have no payout requests waiting to be processed.
