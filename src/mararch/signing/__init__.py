"""OpenSSF model signing for model archives: `statement` (the format, no cryptography), `keys`
(cryptography, extra `mararch[sign]`) and `engine` (signing and checking archives).

Nothing here is imported by `mararch --version`, completion or an unsigned build.
"""
