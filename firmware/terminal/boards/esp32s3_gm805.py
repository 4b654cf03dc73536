# ESP32-S3 DevKitC-1 (ESP32-S3-WROOM-1, N8R8: 8 MB flash, 8 MB octal PSRAM) + GM805 UART QR
# scanner (same serial protocol as the GM65: driver "gm65") + SSD1306 128x64 I2C OLED + 4x4
# membrane keypad + passive buzzer (through a transistor) + status LED.
# hardware/README.md has the same pin map as a table, with the wiring and the parts list.
#
# Pins avoided: the strapping pins 0, 3, 45 and 46 (a key held at power-on must not change how
# the chip boots); 19 and 20 (native USB D-/D+); 43 and 44 (UART0, the REPL through the
# board's USB-UART bridge); 26-32 (the module's SPI flash and PSRAM) and 33-37 (octal PSRAM on
# N8R8 modules: 35-37 for sure, 33-34 kept free as well); 38 and 48 (the DevKitC-1's RGB LED,
# depending on the board revision); 39-42 (JTAG). The ESP32-S3 has no input-only pins: every
# GPIO left has an internal pull-up, so the keypad columns can go anywhere.
# UART1 on 17/18 for the scanner, I2C on 8/9 (Espressif's examples' usual pair).

BOARD = {
    "name": "esp32s3_gm805",
    "description": "ESP32-S3 DevKitC-1 + GM805 scanner on UART1 + SSD1306 on I2C + 4x4 keypad",
    "scanner": {"driver": "gm65", "uart": 1, "tx": 17, "rx": 18, "baud": 9600,
                "terminator": b"\r", "mode": "sensor", "rxbuf": 512},
    "display": {"driver": "ssd1306", "i2c": 0, "sda": 8, "scl": 9, "freq": 400000,
                "addr": 0x3C, "width": 128, "height": 64},
    "keypad": {"driver": "matrix", "rows": (4, 5, 6, 7), "cols": (10, 11, 12, 13),
               "keys": "123A456B789C*0#D", "debounce_ms": 30},
    "buzzer": {"driver": "pwm", "pin": 14},
    "led": {"driver": "pin", "pin": 21, "invert": False},
    "wifi": {"driver": "wlan"},
    "clock": {"driver": "ntp", "host": "pool.ntp.org"},
    "storage": {"driver": "flash", "root": "/data"},
}
