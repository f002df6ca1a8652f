import java.io.BufferedInputStream;
import java.io.FileInputStream;
import java.io.InputStream;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;

/**
 * Reads a zip the way TorchServe's and MMS's Java front ends do (ZipInputStream, front to back)
 * and prints "name<TAB>bytes read<TAB>crc32 of the bytes, hex" per entry.
 */
public final class ZipRead {
    public static void main(String[] args) throws Exception {
        byte[] buf = new byte[1 << 20];
        try (InputStream in = new BufferedInputStream(new FileInputStream(args[0]), 1 << 20);
                ZipInputStream zip = new ZipInputStream(in)) {
            ZipEntry entry;
            while ((entry = zip.getNextEntry()) != null) {
                CRC32 crc = new CRC32();
                long total = 0;
                int n;
                while ((n = zip.read(buf)) > 0) {
                    crc.update(buf, 0, n);
                    total += n;
                }
                System.out.printf("%s\t%d\t%08x%n", entry.getName(), total, crc.getValue());
            }
        }
    }
}
