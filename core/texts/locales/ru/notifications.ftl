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
