# ESP32 DevKitC (ESP32-WROOM-32) + GM65-family UART QR scanner + SSD1306 128x64 I2C OLED +
# 4x4 membrane keypad + passive buzzer (through a transistor) + status LED.
# hardware/README.md has the same pin map as a table, with the wiring and the parts list.
#
# Pin choices: UART2 on GPIO16/17 (free on a WROOM-32 DevKitC: no PSRAM there); I2C on the
# usual 21/22. Keypad rows are outputs, columns inputs with internal pull-ups, so columns avoid
# GPIO34-39 (input only, no pull-ups). The strapping pins 0, 2, 5, 12, 15 are left alone: a key
# held at power-on must not change how the chip boots (GPIO12 high selects 1.8 V flash).

BOARD = {
    "name": "esp32_gm65",
    "description": "ESP32 DevKitC + GM65 scanner on UART2 + SSD1306 on I2C + 4x4 keypad",
    "scanner": {"driver": "gm65", "uart": 2, "tx": 17, "rx": 16, "baud": 9600,
                "terminator": b"\r", "mode": "sensor", "rxbuf": 512},
    "display": {"driver": "ssd1306", "i2c": 0, "sda": 21, "scl": 22, "freq": 400000,
                "addr": 0x3C, "width": 128, "height": 64},
    "keypad": {"driver": "matrix", "rows": (32, 33, 25, 26), "cols": (27, 14, 13, 4),
               "keys": "123A456B789C*0#D", "debounce_ms": 30},
    "buzzer": {"driver": "pwm", "pin": 18},
    "led": {"driver": "pin", "pin": 19, "invert": False},
    "wifi": {"driver": "wlan"},
    "clock": {"driver": "ntp", "host": "pool.ntp.org"},
    "storage": {"driver": "flash", "root": "/data"},
}
