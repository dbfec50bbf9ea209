# Partner and driver alerts sent by the scheduler (scheduler/render.py).

notify-driver-registered =
    A new driver registered with your code { $code }.
    Name: { $name }
    Phone: { $phone }
    Channel: { $channel }
    Source: { $source }
    Time: { $time }
notify-no-name = not given

notify-digest =
    Summary for { $date }, your code { $code }.
    Today { $today ->
        [one] { $today } driver registered
       *[other] { $today } drivers registered
    }: { $today_detail }.
    In total: { $total } ({ $total_detail }).
notify-digest-part = { $label }: { $count }

notify-channel-telegram = Telegram
notify-channel-vk = VK
notify-channel-terminal = terminal
notify-channel-app = app
notify-channel-other = other

notify-source-deep_link = referral link
notify-source-typed = code typed in
notify-source-none = no code
notify-source-admin = operator
notify-source-other = other

# The one reminder of an unfinished registration (core.services.reminders), with btn-continue.
reminder-start = Hello! You started registering with { $park } but did not finish. Shall we go on? Press "Continue registration" to pick up where you stopped. If you changed your mind, send /stop and we will not remind you again.
reminder-code = Hello! Your number is confirmed: one step is left to finish registering with { $park }, the code of whoever invited you, or "I have no referral code". Press "Continue registration". If you changed your mind, send /stop and we will not remind you again.

# Batched accrual alert (core.domain.bonus_alerts): at most one per the park's interval.
notify-bonus-accrued =
    Bonuses credited: +{ $amount }.
    Balance: { $balance }, available to withdraw: { $available }.
    Details: «My bonuses» (/bonus).
# A payout request changed status; $note is the operator's comment or empty.
notify-payout-processing = Payout request #{ $id } for { $amount } is being processed.
notify-payout-confirmed = Payout #{ $id } of { $amount } has been paid.
notify-payout-cancelled = Payout request #{ $id } for { $amount } was cancelled. The amount is available again.
notify-payout-error = Payout #{ $id } of { $amount } failed{ $note }. The amount is available again.
notify-payout-pending = Payout request #{ $id } for { $amount } was created and awaits processing.
notify-payout-note = : { $note }
