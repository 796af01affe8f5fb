/**
 * Extra CA certificates for Nexus, from the PEM file named by
 * `CITADEL_CA_FILE`: for a self-hosted Nexus whose certificate comes from a
 * private CA. They are trusted in addition to the system roots, for every
 * connection the command makes (join, status, work, logout).
 *
 * A variable that is set but names no readable PEM file is a usage error:
 * silently ignoring it would turn into a confusing TLS failure later.
 *
 * @module
 */
import type { CommandContext } from "./command.ts";
import { CommandError } from "./errors.ts";
import { CA_FILE_ENV } from "./env.ts";
import { ExitCode } from "./exit_codes.ts";

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * The certificates of `CITADEL_CA_FILE`, one PEM block each; undefined when
 * the variable is unset or empty.
 *
 * @throws {CommandError} (USAGE) when the file cannot be read or holds no certificate.
 */
export async function readExtraCaCerts(ctx: CommandContext): Promise<string[] | undefined> {
  const path = ctx.io.env(CA_FILE_ENV)?.trim();
  if (!path) return undefined;
  const hint = `Set ${CA_FILE_ENV} to a PEM file of CA certificates, or unset it.`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    const reason = e instanceof Deno.errors.NotFound
      ? "no such file"
      : e instanceof Error
      ? e.message.split("\n")[0]
      : String(e);
    throw new CommandError(`cannot read ${CA_FILE_ENV} ${path}: ${reason}`, ExitCode.USAGE, hint);
  }
  const certs = text.match(PEM_CERTIFICATE);
  if (!certs) {
    throw new CommandError(
      `${CA_FILE_ENV} ${path} holds no PEM certificate`,
      ExitCode.USAGE,
      hint,
    );
  }
  ctx.out.debug(`trusting ${certs.length} extra CA certificate(s) from ${path}`);
  return certs;
}
