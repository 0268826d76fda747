// A throwaway Bluesky PDS and PLC directory on loopback, for the connector tests.
//
// Usage: node pds.mjs <data-directory> [--rate-limits]
// Prints one JSON line {"pds", "plc", "admin_password", "jwt_secret"} once both answer (the
// secrets let a test sign an expired token the PDS itself then refuses),
// then runs until SIGTERM/SIGINT (or its stdin closes, so an orphan never lingers).
//
// Everything is local and offline: the PLC keeps its operations in memory, the PDS keeps
// accounts and repos in SQLite files and blobs on disk under <data-directory>, no AppView,
// no crawlers, no email, no invite codes. Both servers listen on 127.0.0.1 only: each HTTP
// server is bound to port 0 first, and the application is attached to it afterwards, so
// there is no race for a port and the PDS is configured with the port it really has.
import { createECDH, randomBytes } from 'node:crypto'
import http from 'node:http'
import path from 'node:path'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

const listen = () =>
  new Promise((resolve, reject) => {
    const server = http.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve(server))
  })

const dataDirectory = process.argv[2]
if (!dataDirectory) {
  console.error('usage: node pds.mjs <data-directory> [--rate-limits]')
  process.exit(2)
}
const rateLimits = process.argv.includes('--rate-limits')

// PLC: the did:plc directory, with the in-memory database its own tests use.
const plcLib = require('@did-plc/server')
const plcHttp = await listen()
const plcUrl = `http://127.0.0.1:${plcHttp.address().port}`
const plc = plcLib.PlcServer.create({ db: plcLib.Database.mock() })
plcHttp.on('request', plc.app)

// PDS: the reference implementation, configured the way its own environment variables do.
const pdsLib = require('@atproto/pds')
const pdsHttp = await listen()
const port = pdsHttp.address().port
const rotationKey = createECDH('secp256k1')
rotationKey.generateKeys()
const adminPassword = randomBytes(16).toString('hex')
const jwtSecret = randomBytes(32).toString('hex')
const env = {
  port,
  hostname: 'localhost',
  devMode: true,
  version: '0.0.0-test',
  dataDirectory,
  blobstoreDiskLocation: path.join(dataDirectory, 'blobs'),
  blobUploadLimit: 5 * 1024 * 1024,
  didPlcUrl: plcUrl,
  serviceHandleDomains: ['.test'],
  inviteRequired: false,
  rateLimitsEnabled: rateLimits,
  crawlers: [],
  jwtSecret,
  adminPassword,
  plcRotationKeyK256PrivateKeyHex: rotationKey.getPrivateKey('hex'),
}
const cfg = pdsLib.envToCfg(env)
const secrets = pdsLib.envToSecrets(env)
const pds = await pdsLib.PDS.create(cfg, secrets)
await pds.ctx.sequencer.start()
pdsHttp.on('request', pds.app)

const pdsUrl = `http://127.0.0.1:${port}`
for (const url of [`${plcUrl}/_health`, `${pdsUrl}/xrpc/_health`]) {
  const answer = await fetch(url)
  if (!answer.ok) throw new Error(`${url} answered ${answer.status}`)
}
process.stdout.write(
  JSON.stringify({
    pds: pdsUrl,
    plc: plcUrl,
    admin_password: adminPassword,
    jwt_secret: jwtSecret,
  }) + '\n',
)

let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  pdsHttp.closeAllConnections()
  plcHttp.closeAllConnections()
  pdsHttp.close()
  plcHttp.close()
  try {
    await pds.ctx.sequencer.destroy()
    await pds.ctx.backgroundQueue.destroy()
    await pds.ctx.accountManager.close()
  } finally {
    process.exit(0)
  }
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
process.stdin.on('end', stop)
process.stdin.resume()
