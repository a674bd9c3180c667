/*
 * dpapi_reference_blob.exe OUT_DIR
 *
 * Writes OUT_DIR\no-entropy.bin and OUT_DIR\entropy.bin: DPAPI blobs of one
 * UTF-8 text, made with the call shape of the Python reference
 * (msal_extensions/windows.py, WindowsDataProtectionAgent.protect in 1.3.1):
 *   - the data is the UTF-8 bytes of the text;
 *   - description L"python_data";
 *   - entropy: the UTF-8 bytes of a string, or NULL when the string is empty;
 *   - reserved and prompt struct NULL;
 *   - flags CRYPTPROTECT_UI_FORBIDDEN only (CurrentUser scope);
 *   - the file holds the output blob's bytes and nothing else; the output
 *     buffer is released with LocalFree.
 * This is deliberately C, not Rust: it shares no code with the crate, so a
 * blob the crate can read here is one it did not shape itself.
 * The text and entropy must match REFERENCE_TEXT / REFERENCE_ENTROPY in
 * crates/msal-extensions/tests/windows.rs.
 */
#include <windows.h>
#include <wincrypt.h>
#include <stdio.h>
#include <string.h>

static const char TEXT[] =
    "{\"AccessToken\": {\"reference\": \"caf\xc3\xa9 written like msal_extensions.windows\"}}";
static const char ENTROPY[] = "msal-extensions-rs reference entropy \xc3\xa9";

static int protect_to(const char *dir, const char *name, const char *entropy)
{
    char path[MAX_PATH];
    DATA_BLOB in, ent, out;
    FILE *f;
    size_t written;

    in.cbData = (DWORD)strlen(TEXT);
    in.pbData = (BYTE *)TEXT;
    ent.cbData = (DWORD)strlen(entropy);
    ent.pbData = (BYTE *)entropy;
    out.cbData = 0;
    out.pbData = NULL;
    if (!CryptProtectData(&in, L"python_data", ent.cbData ? &ent : NULL, NULL, NULL,
                          CRYPTPROTECT_UI_FORBIDDEN, &out)) {
        fprintf(stderr, "CryptProtectData failed: %ld\n", (long)GetLastError());
        return 1;
    }
    snprintf(path, sizeof path, "%s\\%s", dir, name);
    f = fopen(path, "wb");
    written = f ? fwrite(out.pbData, 1, out.cbData, f) : 0;
    LocalFree(out.pbData);
    if (!f || written != out.cbData || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        return 1;
    }
    printf("wrote %s (%lu bytes)\n", path, (unsigned long)written);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
        return 2;
    }
    return protect_to(argv[1], "no-entropy.bin", "") || protect_to(argv[1], "entropy.bin", ENTROPY);
}
