# Messages of the app, partner cabinet, admin and webhook APIs (JSON errors and results).

api-api-key = Нужен ключ приложения таксопарка (заголовок X-Api-Key).
api-unknown-park = Такого таксопарка нет.
api-sms-sent = Код отправлен по SMS.
api-sms-failed = Не удалось отправить SMS. Попробуйте ещё раз чуть позже.
api-registered = Вы зарегистрированы.
api-already-registered = Этот номер уже зарегистрирован в таксопарке. Ваш реферальный код: { $code }.
api-phone-invalid = Это не похоже на номер телефона. Проверьте номер.
api-rate-limited = Слишком много попыток. Попробуйте снова через { $seconds } с.
api-sms-wrong = Неверный код из SMS. Осталось попыток: { $left }.
api-sms-expired = Код из SMS истёк или не запрашивался. Запросите новый код.
api-code-unknown = Такого реферального кода нет. Проверьте код или зарегистрируйтесь без него.
api-code-inactive = Этот реферальный код больше не действует. Зарегистрируйтесь без кода или попросите новый.
api-code-own = Это ваш собственный реферальный код, по нему нельзя зарегистрироваться.
api-code-other-park = Введённый промо-код не действует в этом приложении. Для регистрации перейдите в бот @{ $bot }
api-code-other-park-nobot = Введённый промо-код не действует в этом приложении. Он действует в таксопарке «{ $park }».
api-code-cooldown = Слишком много неверных кодов. Попробуйте снова через { $minutes } мин.
api-try-later = Сервис занят. Попробуйте ещё раз.
api-unauthorized = Нужен действующий токен (заголовок Authorization: Bearer …).
api-unsupported-media-type = Отправьте CSV-файл (Content-Type: text/csv) или строки в JSON (Content-Type: application/json).
api-token-expired = Срок действия входа истёк. Войдите снова.
api-not-partner = Этот номер не зарегистрирован как партнёр.
api-not-found = Не найдено.
# A referred driver whose personal data was erased on request (name and phone).
referral-erased = удалён
api-refused = { $reason }
api-cursor-invalid = Неверный курсор страницы.
api-dates-invalid = Неверный период: «from» должна быть не позже «to», не дальше 366 дней.
api-forbidden = Доступ запрещён.
api-signed-out = Вы вышли.
api-invalid-json = Тело запроса — не JSON-объект.
