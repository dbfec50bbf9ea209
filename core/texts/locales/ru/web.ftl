# Texts of the web front end: the referral landing page and the API's error messages.

web-title = Регистрация водителей — { $park }
web-heading = Таксопарк «{ $park }»
web-code-label = Реферальный код
web-copy = Скопировать код
web-copied = Код скопирован
web-choose = Зарегистрируйтесь там, где вам удобнее: код будет подставлен сам.
web-open-telegram = Открыть в Telegram
web-open-vk = Открыть во ВКонтакте
web-app-store = Скачать в App Store
web-play-store = Скачать в Google Play
web-app-hint = В приложении введите код в поле «Промо (реферальный) код».
web-qr-caption = QR-код этой страницы: откройте её камерой другого телефона.
web-qr-title = QR-код ссылки на эту страницу

web-missing-title = Реферальный код не найден
web-missing = Такого реферального кода нет. Проверьте ссылку или зарегистрируйтесь в боте таксопарка без кода.
web-inactive-title = Реферальный код не действует
web-inactive = Этот реферальный код больше не действует. Зарегистрируйтесь в боте таксопарка без кода или попросите новую ссылку у того, кто вас пригласил.
web-no-parks = Ссылка на регистрацию неверна. Обратитесь в ваш таксопарк.

web-error-not-found = Такого адреса нет.
web-error-method = Этот метод не поддерживается для этого адреса.
web-error-too-large = Тело запроса слишком большое: не больше { $limit } байт.
web-error-invalid-json = Тело запроса не является корректным JSON.
web-error-unknown-field = В запросе есть неизвестные поля: { $fields }.
web-error-invalid = Запрос содержит неверные данные.
web-error-internal = Внутренняя ошибка. Попробуйте позже.
web-error-code-not-found = Такого реферального кода нет.
web-error-code-inactive = Этот реферальный код больше не действует.
web-error-not-ready = Сервис ещё не готов обслуживать запросы.
web-error-http = Запрос не выполнен.
