# Texts of the web front end: the referral landing page and the API's error messages.

web-title = Driver registration — { $park }
web-heading = Taxi park “{ $park }”
web-code-label = Referral code
web-copy = Copy the code
web-copied = Code copied
web-choose = Register wherever suits you: the code is filled in for you.
web-open-telegram = Open in Telegram
web-open-vk = Open in VK
web-app-store = Download on the App Store
web-play-store = Get it on Google Play
web-app-hint = In the app, enter the code in the “Promo (referral) code” field.
web-qr-caption = The QR code of this page: open it with another phone's camera.
web-qr-title = QR code of the link to this page

web-missing-title = Referral code not found
web-missing = There is no such referral code. Check the link, or register in the taxi park's bot without a code.
web-inactive-title = Referral code no longer valid
web-inactive = This referral code is no longer valid. Register in the taxi park's bot without a code, or ask whoever invited you for a new link.
web-no-parks = This registration link is wrong. Please contact your taxi park.

web-error-not-found = There is no such address.
web-error-method = This method is not allowed for this address.
web-error-too-large = The request body is too large: at most { $limit } bytes.
web-error-invalid-json = The request body is not valid JSON.
web-error-unknown-field = The request has unknown fields: { $fields }.
web-error-invalid = The request contains invalid data.
web-error-internal = Internal error. Please try again later.
web-error-code-not-found = There is no such referral code.
web-error-code-inactive = This referral code is no longer valid.
web-error-not-ready = The service is not ready to serve requests yet.
web-error-http = The request failed.
