// A throwaway Bluesky PDS and PLC directory on loopback, for the connector tests.
//
// Usage: node pds.mjs <data-directory> [--rate-limits]
// Prints one JSON line {"pds", "plc", "lexicons", "admin_password", "jwt_secret"} once they
// answer (the secrets let a test sign an expired token the PDS itself then refuses),
// then runs until SIGTERM/SIGINT (or its stdin closes, so an orphan never lingers).
//
// Everything is local and offline: the PLC keeps its operations in memory, the PDS keeps
// accounts and repos in SQLite files and blobs on disk under <data-directory>, no crawlers,
// no email, no invite codes. An AppView is configured only when PDS_BSKY_APP_VIEW_URL and
// PDS_BSKY_APP_VIEW_DID (the PDS's own variable names) are set: a test's fake one.
//
// "lexicons" is a checker of XRPC answers against the lexicons this PDS was built with:
// POST <lexicons>/<nsid> with a JSON body answers 200 {} when it is a valid output of that
// query, 422 {"error", "message"} otherwise. The fake AppView holds its answers to it. Both servers listen on 127.0.0.1 only: each HTTP
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
  // Node gives the key without its leading zero bytes (one key in 256 would be 31 bytes or
  // less, which the PDS refuses): padded to the 32 bytes a secp256k1 key is.
  plcRotationKeyK256PrivateKeyHex: rotationKey.getPrivateKey('hex').padStart(64, '0'),
  bskyAppViewUrl: process.env.PDS_BSKY_APP_VIEW_URL || undefined,
  bskyAppViewDid: process.env.PDS_BSKY_APP_VIEW_DID || undefined,
}
const cfg = pdsLib.envToCfg(env)
const secrets = pdsLib.envToSecrets(env)
const pds = await pdsLib.PDS.create(cfg, secrets)
await pds.ctx.sequencer.start()
pdsHttp.on('request', pds.app)

const pdsUrl = `http://127.0.0.1:${port}`

// The lexicon checker: the query's output schema, as the PDS itself reads upstream answers.
const lexicons = require('@atproto/pds/dist/lexicons/index.js')
const { lexParse } = require('@atproto/lex-json')
const checkHttp = await listen()
const checkUrl = `http://127.0.0.1:${checkHttp.address().port}`
const answer = (res, status, body) => {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
}
checkHttp.on('request', async (req, res) => {
  const chunks = []
  for await (const chunk of req) chunks.push(chunk)
  const nsid = decodeURIComponent(req.url.slice(1))
  const query = nsid.split('.').reduce((at, name) => at?.[name], lexicons)
  const schema = query?.main?.output?.schema
  if (!schema) return answer(res, 404, { error: 'UnknownQuery', message: nsid })
  try {
    const checked = schema.safeValidate(lexParse(Buffer.concat(chunks).toString('utf8')))
    if (checked.success) return answer(res, 200, {})
    answer(res, 422, { error: checked.error, message: checked.message })
  } catch (err) {
    answer(res, 422, { error: 'Unparsable', message: String(err) })
  }
})

for (const url of [`${plcUrl}/_health`, `${pdsUrl}/xrpc/_health`]) {
  const answer = await fetch(url)
  if (!answer.ok) throw new Error(`${url} answered ${answer.status}`)
}
process.stdout.write(
  JSON.stringify({
    pds: pdsUrl,
    plc: plcUrl,
    lexicons: checkUrl,
    admin_password: adminPassword,
    jwt_secret: jwtSecret,
  }) + '\n',
)

let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  for (const server of [pdsHttp, plcHttp, checkHttp]) {
    server.closeAllConnections()
    server.close()
  }
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
