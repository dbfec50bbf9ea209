# Partner and driver alerts sent by the scheduler (scheduler/render.py).

notify-driver-registered =
    По вашему коду { $code } зарегистрировался новый водитель.
    Имя: { $name }
    Телефон: { $phone }
    Канал: { $channel }
    Источник: { $source }
    Время: { $time }
notify-no-name = не указано

notify-digest =
    Сводка за { $date } по вашему коду { $code }.
    Сегодня { $today ->
        [one] зарегистрировался { $today } водитель
        [few] зарегистрировались { $today } водителя
       *[many] зарегистрировались { $today } водителей
    }: { $today_detail }.
    Всего по коду: { $total } ({ $total_detail }).
notify-digest-part = { $label } — { $count }

notify-channel-telegram = Telegram
notify-channel-vk = ВКонтакте
notify-channel-terminal = терминал
notify-channel-app = приложение
notify-channel-other = другое

notify-source-deep_link = реферальная ссылка
notify-source-typed = код введён вручную
notify-source-none = без кода
notify-source-admin = оператор
notify-source-other = другое

# The one reminder of an unfinished registration (core.services.reminders), with btn-continue.
reminder-start = Здравствуйте! Вы начали регистрацию в таксопарке «{ $park }», но не закончили. Продолжим? Нажмите «Продолжить регистрацию» — начнём с того места, где вы остановились. Если передумали, отправьте /stop, и мы больше не напомним.
reminder-code = Здравствуйте! Ваш номер подтверждён, до конца регистрации в таксопарке «{ $park }» остался один шаг: код пригласившего вас человека или кнопка «У меня нет реферального кода». Нажмите «Продолжить регистрацию». Если передумали, отправьте /stop, и мы больше не напомним.

# Batched accrual alert (core.domain.bonus_alerts): at most one per the park's interval.
notify-bonus-accrued =
    Вам начислены бонусы: +{ $amount }.
    Баланс: { $balance }, доступно к выводу: { $available }.
    Подробнее — «Мои бонусы» (/bonus).
# A payout request changed status; $note is the operator's comment or empty.
notify-payout-processing = Заявка на вывод { $amount } (№{ $id }) принята в обработку.
notify-payout-confirmed = Выплата { $amount } по заявке №{ $id } проведена.
notify-payout-cancelled = Заявка на вывод { $amount } (№{ $id }) отменена. Сумма снова доступна к выводу.
notify-payout-error = Выплата по заявке №{ $id } на { $amount } не прошла{ $note }. Сумма снова доступна к выводу.
notify-payout-pending = Заявка на вывод { $amount } (№{ $id }) создана и ждёт обработки.
notify-payout-note = : { $note }
